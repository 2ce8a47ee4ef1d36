"""MobileNetV2 1.0 on ImageNet: the paper's own recipe, gaps filled from TF-slim.

    python train.py --config=configs/mobilenet_v2_imagenet_paper.py --data_dir=DIR

Source: Sandler et al., arXiv:1801.04381, section 6.1: RMSProp with decay and momentum 0.9,
batch norm after every layer, weight decay 4e-5, learning rate 0.045 decayed x0.98 per
epoch, 16 asynchronous GPU workers with batch 96. Unstated values come from tensorflow/models
research/slim: RMSprop epsilon 1.0 (train_image_classifier.py default), batch norm decay 0.997,
dropout 0.2 (keep_prob 0.8) and no weight decay on depthwise kernels
(nets/mobilenet/mobilenet.py training_scope), no label smoothing (train_image_classifier.py).
Epochs are not stated: 300 takes x0.98 per epoch to 0.2% of the initial rate.
Expected: 72.0% top-1 (Table 4, MobileNetV2 224x224).
Time: not given; 16 GPUs, asynchronous; here synchronous at batch 96.
Not applied: asynchronous updates; slim's Inception preprocessing (crops of 5-100% of the
area, colour distortion; ours are 8-100% crops and flips).
"""
from configs import common


def get_config():
    config = common.imagenet(common.base(model="mobilenet_v2", dataset="imagenet"))
    config.model.update(dropout=0.2, bn_momentum=0.997, bn_epsilon=1e-3)
    config.train.update(batch_size=96, epochs=300, weight_decay=4e-5, regularize_depthwise=False)
    common.rmsprop(config, learning_rate=0.045, base_batch_size=96, epsilon=1.0)
    return common.exponential_decay(config, decay_rate=0.98, decay_epochs=1)
