"""Quick detection recipe on the built-in Shapes boxes: SSDLite on MobileNetV3-Small 0.5.

    python train.py --model=ssdlite_v3_small --dataset=shapes
    python evaluate.py --model_dir=runs/RUN      # COCO AP with pycocotools

Source: tuned on this repository's Shapes generator (mobilenet_tf/data/shapes.py): 128x128
images (at 64 and 96 the stride-16 first map is too coarse: AP50 fell by half), 6 classes,
one shape an image (the largest, dataset.options.max_shapes=1), 3,000 training and 300
validation images. The full Shapes (1 to 4 shapes, the small ones 14-21 pixels across) needs
a longer run: 0.27 AP50 after the same 372 steps. As shapes_cls.py: SGD
with Nesterov momentum at 0.2 and a fast batch-norm momentum (Adam at 5e-3 reached a third
of its AP50; 0.4 less than 0.2); no random crop (4 epochs of a synthetic set have nothing to
gain from it) and no softmax (focal loss: 0.42 vs 0.36 AP50). What mattered most was the
focal loss's start: background at probability 0.99, the classes at 0.01 (0.42 -> 0.53 AP50
after 300 steps).
Expected: COCO AP50 0.499 (AP 0.385, AP75 0.473) on the validation split after the 372
steps (4 epochs), measured 2026-11-24 on 2 shared CPU cores: 151 CPU seconds, 4.5 minutes
wall. The issue's target is AP50 >= 0.5: a fifth epoch is the obvious next try (not measured).
"""
from configs import common


def get_config():
    config = common.base(model="ssdlite_v3_small", dataset="shapes")
    config = common.detection(config, "shapes", image_size=128)
    config.model.update(width=0.5, bn_momentum=0.9)
    config.detection.update(crop=False, expand=False, photometric=False, flip=True)
    config.dataset.options = {"num_examples": 3000, "eval_examples": 300, "max_shapes": 1}
    config.train.update(batch_size=32, epochs=4, checkpoint_every_steps=500,
                        log_every_steps=50)
    config.optimizer.update(name="sgd", learning_rate=0.2, momentum=0.9, nesterov=True)
    config.schedule.update(name="cosine", warmup_epochs=0.2)
    return config
