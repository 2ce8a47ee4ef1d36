"""SSD detection pieces shared by the data pipeline and the model: default boxes (anchors.py,
numpy only), target assignment in tf.data (target_assigner.py), box coding, losses and
post-processing."""
