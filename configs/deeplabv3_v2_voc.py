"""Mobile DeepLabv3 on MobileNetV2, PASCAL VOC 2012 (the augmented train set), from ImageNet
weights.

    python train.py --model=deeplabv3_v2 --dataset=voc2012 --data_dir=VOCdevkit/VOC2012
    python train.py --model=deeplabv3_v2 --dataset=voc2012 --config.model.options.aspp=True

Source: the model, MobileNetV2 paper (arXiv:1801.04381), section 6.3 and Table 7: DeepLabv3
heads on the second last (320-channel) feature map at output stride 16; the on-device
candidate has no ASPP (1x1 and image-pooling branches only), model.options.aspp=True adds
the three atrous 3x3 branches (rates 6, 12, 18). research/deeplab for the training: the
train_aug set (SegmentationClassAug, dataset.options.augmented), 513x513 crops, base
learning rate 0.007 for train_aug (its local_test.sh), and its model zoo's 513 evaluation
frame; random scale 0.5-2.0 and flips. Our choices: batch 16 with the rate scaled from 8 (0.014),
30 epochs of the 10,582 images (about 20k steps), poly decay (power 0.9, as research/deeplab), weight decay
4e-5, ImageNet weights from keras.applications (the paper also pre-trained on COCO).
Expected: 75.32% val mIoU with COCO pre-training (Table 7); less without it (not measured).
2.11M params, 2.75B MAdds at 513x513 (ours: 2.15M, 2.74B); with ASPP 4.52M, 5.8B (ours:
4.56M, 5.36B). Time: hours on one GPU, not measured.
"""
from configs import common


def get_config():
    config = common.base(model="deeplabv3_v2", dataset="voc2012")
    config = common.segmentation(config, "voc2012", crop_size=513, eval_size=(513, 513))
    config.model.update(bn_momentum=0.997, bn_epsilon=1e-3, dropout=0.1,
                        options={"aspp": False})
    config.dataset.options = {"augmented": True}
    config.train.update(batch_size=16, epochs=30, weight_decay=4e-5,
                        regularize_depthwise=False, checkpoint_every_steps=1000,
                        log_every_steps=50, init_from="keras_applications")
    config.optimizer.update(name="sgd", learning_rate=0.014, base_batch_size=16, momentum=0.9)
    config.schedule.update(name="poly", power=0.9, warmup_epochs=0.0)
    return config
