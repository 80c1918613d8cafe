"""course_utils: the thin helper package behind the course notebooks.

One module per concept, named after what it does (see README, "Design"):
config, data, io, viz, pipelines, preprocessing, augmentation, sampling,
losses, metrics, networks, training, inference, exercises, results, reports.
Modules that need TensorFlow/Keras import it lazily, so that the data and
I/O lessons work even before TensorFlow is installed.
"""

import os

# Keep notebook outputs short: hide TensorFlow's C++ log lines (start-up chatter,
# and harmless "NodeDef mentions attribute ..." lines that TF 2.21 logs as errors
# when Keras builds tf.data pipelines). Real failures still raise Python
# exceptions. Set the variable yourself before importing to see the logs again.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# On a machine without an NVIDIA GPU, let TensorFlow run one op at a time (each
# op still uses every core). Its CPU gradients of 3D convolutions allocate large
# temporary im2col buffers, and running several at once nearly doubled the memory
# of a training step, at no gain in speed on 2 cores: that is the difference
# between fitting Binder's 2 GB or not (`python benchmarks/training_memory.py`,
# and the same with TF_NUM_INTEROP_THREADS=2). Set the variable to choose otherwise.
if not os.path.exists("/proc/driver/nvidia"):
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from course_utils.errors import (  # noqa: E402
    ConfigError,
    CourseError,
    DataError,
    DownloadError,
    ModelError,
    ShapeError,
)

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "CourseError",
    "DataError",
    "DownloadError",
    "ModelError",
    "ShapeError",
    "__version__",
]
