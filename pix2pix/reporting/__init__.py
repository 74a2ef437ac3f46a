"""What a run shows people: image-quality metrics (numpy) and FID, pictures and index.html, loss
history and plots, the metrics recorder of test and score modes."""
