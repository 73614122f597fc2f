"""Optional training extra (``pip install sonomsk[train]``): dataset loaders, training, ONNX export.

Only this package imports torch; the runtime (:mod:`sonomsk.vision`) uses onnxruntime.
"""
