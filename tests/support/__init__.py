"""Test helpers that run firmware code on the host: the kernels through ``ctypes``
(:mod:`tests.support.hostkernels`) and the device code as a transport
(:mod:`tests.support.hostdevice`), both built by :mod:`calibration.hostbuild`."""
