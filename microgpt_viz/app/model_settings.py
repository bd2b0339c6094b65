"""The model the user last reset training to (preset and size), kept in the app's QSettings.

Train > Reset with another size… and Reset write it; the next `microgpt-viz` started without
--preset or a size option opens on it. Values that cannot make a model (a settings file edited
by hand, an older version's) are ignored: the app then starts on what the command line gave.
"""
from core.engine.config import PRESETS, ConfigError, preset

SIZE_FIELDS = ("n_layer", "n_embd", "n_head", "block_size")


def save(settings, preset_name, config):
    settings.setValue("model/preset", preset_name)
    for name in SIZE_FIELDS:
        settings.setValue(f"model/{name}", getattr(config, name))
    settings.sync()


def load(settings):
    """(preset name, {size field: value}) last saved, or None when nothing usable is saved."""
    name = settings.value("model/preset")
    if name not in PRESETS:
        return None
    size = {}
    for field in SIZE_FIELDS:
        try:
            size[field] = int(settings.value(f"model/{field}"))
        except (TypeError, ValueError):
            return None
    try:
        preset(name, **size)
    except ConfigError:
        return None
    return name, size


def apply_saved(settings, trainer):
    """Rebuild `trainer` at step 0 with the saved preset and size (keeping its seed); returns the
    preset name now in use, or None when nothing usable is saved (the trainer is left alone)."""
    saved = load(settings)
    if saved is None:
        return None
    name, size = saved
    trainer.config = preset(name, seed=trainer.config.seed, **size)
    trainer.reset()
    return name
