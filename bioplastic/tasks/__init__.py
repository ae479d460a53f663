"""Tasks: built-in student-teacher problems and real data sets.

Real data sets are downloaded only when a loader is called (never at import),
or read from a local directory (argument ``data_dir`` or the environment
variable ``BIOPLASTIC_DATA_DIR``).
"""

from .base import DatasetTask, Task, one_hot
from .mnist import MnistTask
from .sarcos import SarcosTask
from .student_teacher import NonlinearStudentTeacher, StudentTeacher

__all__ = ["MnistTask", "SarcosTask", "DatasetTask", "NonlinearStudentTeacher", "StudentTeacher", "Task", "one_hot"]
