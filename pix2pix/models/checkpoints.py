"""The training checkpoint: what it holds, how its variables are named, finding and reading it.

A checkpoint (prefix `model`, as the reference named its files) holds everything a resume
needs: both networks' weights, both optimisers' slots, the global step and the loss averages.

Names a person or `tf.train.list_variables` can read. TensorFlow stores each variable once,
under the first path a breadth-first walk of the object graph reaches it by, visiting the
root's children in sorted order. A Keras 3 model reaches its weights only through long
internal paths, so with the networks stored as plain Keras models every weight was named
after the optimiser that updates it: `generator_optimizer/_trainable_variables/7/...`.
Here each network is stored as a node whose children are its layers by name, each holding
its weights by name, so the weights are found first as
`generator/<layer>/<weight>/.ATTRIBUTES/VARIABLE_VALUE` (and `discriminator/...`).

Both layouts read back. The same node also carries the Keras model's own children, so the
object graph still holds every edge the plain-model layout had: a checkpoint written before
the names changed restores through those edges (all of it for a resume, the generator for
test, export and infer), and code that restores a plain Keras model from a new checkpoint
(`tf.train.Checkpoint(generator=keras_model)`) still finds its weights. Restores stay strict:
every variable must be found (`assert_existing_objects_matched`).
"""

import os

import tensorflow as tf

from pix2pix.errors import Pix2PixError, error_line

CHECKPOINT_PREFIX = "model"


class _NamedChildren(tf.Module):
    """A checkpoint node with the children CHILDREN (name -> variable or node), plus, when
    KERAS_MODEL is given, that model's own children (the plain-model layout's edges)."""

    def __init__(self, children, keras_model=None):
        super().__init__()
        # Set past tf.Module's attribute tracking: the children are exactly the ones below.
        object.__setattr__(self, "_named_children", children)
        object.__setattr__(self, "_keras_model", keras_model)

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        children = {}
        if self._keras_model is not None:
            children.update(self._keras_model._trackable_children(save_type, **kwargs))
        clash = set(children) & set(self._named_children)
        if clash:
            raise ValueError(f"layer names {sorted(clash)} clash with the Keras model's own children")
        children.update(self._named_children)
        return children


def _nested_by_path(weights):
    """{first path part: {...: weight}} from each weight's Keras path ("layer/kernel")."""
    tree = {}
    for weight in weights:
        *layers, name = weight.path.split("/")
        node = tree
        for layer in layers:
            node = node.setdefault(layer, {})
        if name in node:
            raise ValueError(f"two weights share the path {weight.path}")
        node[name] = weight
    return tree


def _as_nodes(tree):
    return {name: _NamedChildren(_as_nodes(child)) if isinstance(child, dict) else child
            for name, child in tree.items()}


def named_weights(network) -> tf.Module:
    """The checkpoint node of a Keras NETWORK: its weights by layer and weight name.

    `weights` (not `variables`): the dropout layers' random-generator states were never part
    of the checkpoint, and are not now, so a resume draws the same dropout masks as before.
    """
    return _NamedChildren(_as_nodes(_nested_by_path(network.weights)), keras_model=network)


def model_checkpoint(model) -> tf.train.Checkpoint:
    """Everything a resume of MODEL (a Pix2Pix) needs: weights, optimiser slots, step, averages."""
    return tf.train.Checkpoint(
        generator=named_weights(model.generator), discriminator=named_weights(model.discriminator),
        generator_optimizer=model.generator_optimizer,
        discriminator_optimizer=model.discriminator_optimizer,
        global_step=model.global_step, loss_averages=model.loss_averages)


def latest_checkpoint(directory: str) -> str:
    """Path prefix of the newest checkpoint in DIRECTORY, or a clear error."""
    if not directory or not os.path.isdir(directory):
        raise Pix2PixError(f"--checkpoint: {directory} does not exist or is not a directory")
    path = tf.train.latest_checkpoint(directory)
    if path is None:
        raise Pix2PixError(f"--checkpoint: no checkpoint found in {directory}")
    return path


def first_non_finite(variables):
    """The path of the first of VARIABLES holding NaN or infinity, or None."""
    return next((v.path for v in variables if not bool(tf.reduce_all(tf.math.is_finite(v)))), None)


def restore_checked(checkpoint: tf.train.Checkpoint, path: str, variables, matching: str, partial=False,
                    advice="use an earlier, finite checkpoint"):
    """Restore CHECKPOINT from PATH strictly (every object it holds matched; with PARTIAL the file may
    hold more). Each way it can fail is one Pix2PixError naming PATH: a checkpoint of another model
    (MATCHING says what it should fit), a truncated shard, non-finite values in VARIABLES (a generator
    would draw black pictures and exit 0; training could not recover)."""
    try:
        status = checkpoint.restore(path)
        (status.expect_partial() if partial else status).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        raise Pix2PixError(f"--checkpoint: {path} does not match {matching}: {error_line(err)}") from None
    except IndexError as err:  # TF's reader says so of a .data shard shorter than its index says
        raise Pix2PixError(f"--checkpoint: cannot read {path}.data-*: {error_line(err)} (the file is "
                           f"truncated or damaged; {advice.replace('finite', 'intact')})") from None
    bad = first_non_finite(variables)
    if bad:
        raise Pix2PixError(f"--checkpoint: {path} holds non-finite values (NaN or infinity) in {bad}; {advice}")


def restore_generator(generator, directory: str) -> str:
    """Load the generator's weights from the newest checkpoint in DIRECTORY (either layout)."""
    path = latest_checkpoint(directory)
    restore_checked(tf.train.Checkpoint(generator=named_weights(generator)), path,
                    generator.trainable_variables, "the generator these options describe", partial=True)
    return path
