"""Tasks: built-in student-teacher problems and real data sets.

Real data sets are downloaded only when a loader is called (never at import),
or read from a local directory (argument ``data_dir`` or the environment
variable ``BIOPLASTIC_DATA_DIR``, made absolute against the working directory
when the loader is called).  :class:`IdxImageTask` reads any image set in
MNIST's idx layout (Fashion-MNIST, KMNIST, ...) from a directory or from the
paths of its four files; :class:`Cifar10Task` holds CIFAR-10's colour images
for convolutional networks.
"""

from .base import DatasetTask, Task, one_hot
from .cifar10 import Cifar10Task
from .idx_images import IdxImageTask
from .mnist import MnistTask
from .sarcos import SarcosTask
from .student_teacher import NonlinearStudentTeacher, StudentTeacher

__all__ = ["Cifar10Task", "IdxImageTask", "MnistTask", "SarcosTask", "DatasetTask", "NonlinearStudentTeacher", "StudentTeacher", "Task", "one_hot"]
