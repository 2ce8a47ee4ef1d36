"""Quick detection recipe on the built-in Shapes boxes: SSDLite on MobileNetV3-Small 0.5.

    python train.py --model=ssdlite_v3_small --dataset=shapes
    python evaluate.py --model_dir=runs/RUN      # COCO AP with pycocotools

Source: tuned on this repository's Shapes generator (mobilenet_tf/data/shapes.py): 128x128
images, 6 classes, 1 to 4 shapes an image.
Expected: being tuned (the first 4-epoch Adam run reached AP50 0.06).
"""
from configs import common


def get_config():
    config = common.base(model="ssdlite_v3_small", dataset="shapes")
    config = common.detection(config, "shapes", image_size=128)
    config.model.update(width=0.5, bn_momentum=0.9)
    config.detection.update(expand=False, photometric=False)
    config.dataset.options = {"num_examples": 3000, "eval_examples": 300}
    config.train.update(batch_size=32, epochs=4, checkpoint_every_steps=500,
                        log_every_steps=50)
    config.optimizer.update(name="adam", learning_rate=5e-3, epsilon=1e-7)
    config.schedule.update(name="cosine", warmup_epochs=0.2)
    return config
