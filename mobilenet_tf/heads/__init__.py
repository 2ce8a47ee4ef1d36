"""Task heads: functions of a backbone's endpoint dict (see mobilenet_tf.models), and the
builders that put a backbone and a head together into one flat keras.Model.

    lraspp.py    Lite R-ASPP on MobileNetV3 (segmentation)
    deeplab.py   DeepLabv3 / its reduced mobile head on MobileNetV2 (segmentation)
    layers.py    resize-to-another-tensor and size-fitted pooling, for any input size
"""
