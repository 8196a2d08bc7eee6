#!/usr/bin/env python3
"""The real Keras running the tutorial's own code paths, for tests/apps/test_keras_reference.cpp.

Runs in the venv of scripts/keras_venv.sh: tf-keras (Keras 2, the tutorial's tf.keras) and
Keras 3 (`import keras`), CPU only. Two phases, each one process (TensorFlow's import costs
seconds):

  prepare  --data DIR --notop FILE --out DIR [--image-size 32 --hidden 8 --epochs 3 --batch-size 4 --lr 1e-3]
      features.csv        tf-keras VGG16(weights=None, include_top=False) + load_weights(notop) +
                          ImageDataGenerator(preprocessing_function=preprocess_input)
                          .flow_from_directory(valid, shuffle=False) + predict: path, then the values
      init.h5             the tutorial's model (tf-keras, float64) with the notop base and a head
                          drawn from --seed, saved before training (model.save: the Keras 2 layout)
      history.csv         fit(train, validation_data=valid, shuffle=False), Dropout 0, float64
      k3_model.keras, k3_model.weights.h5
                          the trained model rebuilt in Keras 3 and saved by Keras 3
      k3_notop.keras, k3_notop.weights.h5
                          Keras 3's VGG16 notop with the same base weights, saved by Keras 3
      k3_predictions.csv  the Keras 3 model's predictions on the test split
  check    --data DIR --best-h5 FILE --best-keras FILE --out DIR [--image-size 32 --hidden 8]
      tfk_best.csv        tf-keras: the tutorial's model + load_weights(best.h5), test predictions
      k3_best.csv         Keras 3: keras.models.load_model(best.keras), no custom objects

Prediction files: path (relative to the split), then one probability per class.
"""
import argparse
import os
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only, whatever the machine has
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras is tf-keras (Keras 2), as in the tutorial

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import keras  # noqa: E402  (Keras 3)

tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(2)


def generator(k, split_dir, size, batch, shuffle=False):
    """The tutorial's generator, with the preprocessing vggtl stores in its models (caffe)."""
    gen = k.preprocessing.image.ImageDataGenerator(
        preprocessing_function=k.applications.vgg16.preprocess_input)
    return gen.flow_from_directory(split_dir, target_size=(size, size), batch_size=batch,
                                   shuffle=shuffle, class_mode="categorical")


def tutorial_model(k, base, hidden, classes, dropout):
    """The tutorial's model (transfer_learning_part1): Flatten, FC_2, BatchNorm, Dropout, softmax."""
    L = k.layers
    for layer in base.layers:
        layer.trainable = False
    x = L.Flatten()(base.get_layer("block5_pool").output)
    x = L.Dense(hidden, activation="relu", name="FC_2")(x)
    x = L.BatchNormalization()(x)
    x = L.Dropout(dropout)(x)
    x = L.Dense(classes, activation="softmax", name="softmax")(x)
    return k.models.Model(inputs=base.input, outputs=x)


def write_rows(path, names, rows):
    with open(path, "w") as f:
        for name, row in zip(names, rows):
            f.write(name + "," + ",".join("%.9g" % v for v in np.ravel(row)) + "\n")


def predict_split(model, split_dir, size):
    """The tutorial's generator (tf-keras's: Keras 3 has none) feeding either Keras's model."""
    g = generator(tf_keras, split_dir, size, 8)
    x = np.concatenate([g[i][0] for i in range(len(g))])
    return g.filenames, np.asarray(model.predict(x, batch_size=8, verbose=0), dtype=np.float64)


def prepare(a):
    size, data = a.image_size, a.data
    train, valid, test = (os.path.join(data, s) for s in ("train", "valid", "test"))

    # Features: the seed's float32 VGG16 on the validation split.
    base32 = tf_keras.applications.vgg16.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    base32.load_weights(a.notop)
    g = generator(tf_keras, valid, size, 8)
    write_rows(os.path.join(a.out, "features.csv"), g.filenames, base32.predict(g, verbose=0))

    # Training in float64 from weights both sides read.
    tf_keras.backend.set_floatx("float64")
    base = tf_keras.applications.vgg16.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    base.load_weights(a.notop)
    train_gen = generator(tf_keras, train, size, a.batch_size)
    valid_gen = generator(tf_keras, valid, size, a.batch_size)
    classes = train_gen.num_classes
    model = tutorial_model(tf_keras, base, a.hidden, classes, 0.0)
    rng = np.random.default_rng(a.seed)
    flat = model.get_layer("FC_2").input_shape[-1]
    for name, fan_in, units in (("FC_2", flat, a.hidden), ("softmax", a.hidden, classes)):
        limit = np.sqrt(6.0 / (fan_in + units))
        kernel = rng.uniform(-limit, limit, (fan_in, units)).astype(np.float32).astype(np.float64)
        bias = (rng.uniform(-1, 1, units) / 16).astype(np.float32).astype(np.float64)
        model.get_layer(name).set_weights([kernel, bias])
    model.save(os.path.join(a.out, "init.h5"))
    model.compile(tf_keras.optimizers.Adam(learning_rate=a.lr), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(train_gen, validation_data=valid_gen, epochs=a.epochs, shuffle=False, verbose=0).history
    with open(os.path.join(a.out, "history.csv"), "w") as f:
        f.write("epoch,loss,accuracy,val_loss,val_accuracy\n")
        for e in range(a.epochs):
            f.write("%d,%.12g,%.12g,%.12g,%.12g\n" % (e + 1, h["loss"][e], h["accuracy"][e], h["val_loss"][e],
                                                      h["val_accuracy"][e]))

    # Keras 3: the trained model and the notop base, saved in both Keras 3 formats.
    k3_base = keras.applications.vgg16.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    k3_base.set_weights([w.astype(np.float32) for w in base.get_weights()])
    k3_base.save(os.path.join(a.out, "k3_notop.keras"))
    k3_base.save_weights(os.path.join(a.out, "k3_notop.weights.h5"))
    k3_model = tutorial_model(keras, k3_base, a.hidden, classes, 0.5)
    k3_model.set_weights([w.astype(np.float32) for w in model.get_weights()])
    k3_model.compile(keras.optimizers.Adam(learning_rate=a.lr), loss="categorical_crossentropy",
                     metrics=["accuracy"])
    k3_model.save(os.path.join(a.out, "k3_model.keras"))
    k3_model.save_weights(os.path.join(a.out, "k3_model.weights.h5"))
    names, p = predict_split(k3_model, test, size)
    write_rows(os.path.join(a.out, "k3_predictions.csv"), names, p)


def check(a):
    size, test = a.image_size, os.path.join(a.data, "test")
    tf_keras.backend.set_floatx("float64")
    base = tf_keras.applications.vgg16.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    classes = len([d for d in os.listdir(test) if os.path.isdir(os.path.join(test, d))])
    model = tutorial_model(tf_keras, base, a.hidden, classes, 0.5)
    model.load_weights(a.best_h5)
    names, p = predict_split(model, test, size)
    write_rows(os.path.join(a.out, "tfk_best.csv"), names, p)

    loaded = keras.models.load_model(a.best_keras)  # no custom objects
    names, p = predict_split(loaded, test, size)
    write_rows(os.path.join(a.out, "k3_best.csv"), names, p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("phase", choices=["prepare", "check"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--notop")
    ap.add_argument("--best-h5")
    ap.add_argument("--best-keras")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if a.phase == "prepare":
        if not a.notop:
            ap.error("prepare needs --notop")
        prepare(a)
    else:
        if not a.best_h5 or not a.best_keras:
            ap.error("check needs --best-h5 and --best-keras")
        check(a)
    print("keras_reference %s: tensorflow %s, tf-keras %s, keras %s" %
          (a.phase, tf.__version__, tf_keras.__version__, keras.__version__))


if __name__ == "__main__":
    sys.exit(main())
