"""MobileNetV1 1.0 on ImageNet: the paper's own recipe, gaps filled from TF-slim.

    python train.py --config=configs/mobilenet_v1_imagenet_paper.py --model=v1 --data_dir=DIR

Source: Howard et al., arXiv:1704.04861, section 3.2: RMSprop with asynchronous gradient
descent as for Inception V3, less regularisation and augmentation than large models, no
label smoothing, very little or no weight decay on depthwise filters. The paper states no
learning rate; the MobileNetV2 paper (arXiv:1801.04381, section 6.1) gives "the MobileNetV1
setup" as 0.045 decayed x0.98 per epoch, with batch 96 per asynchronous worker, used here.
RMSprop decay 0.9, momentum 0.9, epsilon 1.0: tensorflow/models research/slim
train_image_classifier.py defaults (Inception V3's epsilon). Weight decay 4e-5 off depthwise
kernels, batch norm decay 0.9997, epsilon 1e-3: research/slim/nets/mobilenet_v1.py
mobilenet_v1_arg_scope; dropout 0.001 (keep_prob 0.999): its mobilenet_v1 default.
Epochs are not stated: 300 takes x0.98 per epoch to 0.2% of the initial rate.
Expected: 70.6% top-1 (Table 8, 1.0 MobileNet-224); the slim checkpoint reports 70.9%.
Time: not given; the paper trained asynchronously on GPUs, here synchronous at batch 96.
Not applied: asynchronous updates (each step here averages one global batch); slim's
Inception preprocessing (crops of 5-100% of the area, colour distortion; ours are 8-100%
crops and flips).
"""
from configs import common


def get_config():
    config = common.imagenet(common.base(model="mobilenet_v1", dataset="imagenet"))
    config.model.update(dropout=0.001, bn_momentum=0.9997, bn_epsilon=1e-3)
    config.train.update(batch_size=96, epochs=300, weight_decay=4e-5, regularize_depthwise=False)
    common.rmsprop(config, learning_rate=0.045, base_batch_size=96, epsilon=1.0)
    return common.exponential_decay(config, decay_rate=0.98, decay_epochs=1)
