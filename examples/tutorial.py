"""The Keras tutorial's transfer learning (frozen VGG16, a small head, 20 epochs) with vggtl.

    python examples/tutorial.py data/    # data/train, data/valid, data/test: one folder per class

Uses the Keras VGG16 weights in ~/.keras/models/ (weights=None: a random base, for a try-out).
"""
import sys

import vggtl

data = sys.argv[1] if len(sys.argv) > 1 else "data"


def on_epoch_end(epoch, logs):
    print("epoch %d: loss %.4f, val_accuracy %.4f" % (epoch + 1, logs["loss"], logs["val_accuracy"]))


history = vggtl.train(data, out="runs/tutorial", epochs=20, batch_size=30, image_size=224,
                      callbacks=[on_epoch_end], verbose=0)
print("best val_loss %.4f" % min(history.history["val_loss"]))
model = vggtl.load_model(history.out + "/best.h5")
result = model.evaluate(data + "/test")
print("test accuracy %.4f, confusion %s" % (result["accuracy"], result["confusion"]))
probs = model.predict(data + "/test")  # (N, classes) float32, files in sorted order
print(probs.shape, model.class_names)
