"""SSD detection pieces of the model, backend-agnostic (no TensorFlow): default boxes
(anchors.py, numpy only), box geometry and coding (box_coder.py, keras.ops), losses,
post-processing and COCO scoring. Target assignment runs in tf.data and lives with the input
pipeline (mobilenet_tf.data.target_assigner)."""
