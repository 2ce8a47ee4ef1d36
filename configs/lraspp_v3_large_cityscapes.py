"""LR-ASPP on MobileNetV3-Large, Cityscapes fine annotations, from scratch: the V3 paper's
segmentation candidate.

    python train.py --model=lraspp_v3_large --dataset=cityscapes --data_dir=DIR
    python evaluate.py --model_dir=runs/RUN --metrics_out=metrics.json   # 1024x2048 frames

Source: the model, MobileNetV3 paper (arXiv:1905.02244 v5), section 6.4, Table 7 row 8:
the last block's filters halved (RF2), LR-ASPP with 128 filters, output stride 16, trained
on the 2,975 gtFine training images only, from scratch, single-scale evaluation; the paper
defers its protocol to DeepLabv3 and MobileNetV2 without numbers. research/deeplab for the
rest: its model zoo flags for mobilenetv3_large_cityscapes_trainfine (image_pooling_crop_size
769, so our pooling kernel is 49 = ceil(769 / 16); aspp_convs_filters 128; decoder output
stride 8) and its Cityscapes example (769x769 crops, 90,000 steps). torchvision's lraspp
recipe (references/segmentation: SGD 0.01, momentum 0.9, batch 32, poly decay with power
0.9, as research/deeplab's learning_power) for the optimizer, scaled linearly to our batch
16 (0.005); random scale 0.5-2.0 and flips as both do. Our choices: weight decay 4e-5 (no
depthwise), BN momentum 0.997.
Expected: 72.36% val mIoU (Table 7; 72.41% for research/deeplab's checkpoint at output
stride 32); 1.51M params, 9.74B MAdds at 1024x2048 (ours: 1.52M, 9.32B;
python -m mobilenet_tf.profile --model=lraspp_v3_large). Not reproduced here (no GPU, no
Cityscapes). Time: about a day on one modern GPU (90k steps of 16 crops), not measured.
"""
from configs import common


def get_config():
    config = common.base(model="lraspp_v3_large", dataset="cityscapes")
    config = common.segmentation(config, "cityscapes", crop_size=769, eval_size=(1024, 2048))
    config.model.update(bn_momentum=0.997, bn_epsilon=1e-3, dropout=0.0)
    config.train.update(batch_size=16, steps=90_000, weight_decay=4e-5,
                        regularize_depthwise=False, checkpoint_every_steps=2000,
                        log_every_steps=100, eval_every_epochs=50)
    config.optimizer.update(name="sgd", learning_rate=0.005, base_batch_size=16, momentum=0.9)
    config.schedule.update(name="poly", power=0.9, warmup_epochs=0.0)
    return config
