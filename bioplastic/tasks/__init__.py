"""Tasks: built-in student-teacher problems and real data sets.

Real data sets are downloaded only when a loader is called (never at import),
or read from a local directory (argument ``data_dir`` or the environment
variable ``BIOPLASTIC_DATA_DIR``).
"""

from .base import DatasetTask, Task, one_hot
from .student_teacher import NonlinearStudentTeacher

__all__ = ["DatasetTask", "NonlinearStudentTeacher", "Task", "one_hot"]
