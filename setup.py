"""Build the Cython kernels.

Environment switches (all off by default):

* ``HSMCY_DEBUG=1``   bounds checks, wraparound and ``-O0 -g`` for debugging a kernel.
* ``HSMCY_NATIVE=1``  add ``-march=native`` (fast on the build machine, may crash elsewhere).
"""
import glob
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("HSMCY_DEBUG", "") not in ("", "0")
native = os.environ.get("HSMCY_NATIVE", "") not in ("", "0")

compile_args = ["-O0", "-g"] if debug else ["-O3"]
if native:
    compile_args.append("-march=native")

directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": not debug,
}

extensions = [
    Extension(
        "hsmcy." + os.path.splitext(os.path.basename(path))[0],
        [path],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    )
    for path in sorted(glob.glob(os.path.join("hsmcy", "*.pyx")))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
