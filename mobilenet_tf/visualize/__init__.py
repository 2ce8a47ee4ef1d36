"""Pictures of what a model does: predictions drawn on images (draw: numpy and Pillow),
evaluation charts (charts: matplotlib), the TensorBoard pictures of training's validations
(summaries) and evaluate.py --plots_dir's files (evaluation)."""
