"""Default settings of the training, fine-tuning and self-adaptation jobs.

A module of numbers only: the CLI builds its help text from them without importing the
training code (which pulls in scipy.signal and the regimes: about 0.9 s and 80 MB that a
`microdeblur deblur` run does not need). ``core.finetune``, ``core.self_adapt`` and
``core.training.config`` take their defaults from here.
"""

#: what `microdeblur train` (and the Fine-tune dock's adversarial regimes) start with
TRAIN_STEPS, TRAIN_LR = 2000, 3e-4
#: `train` validates (and writes its checkpoints) every min(steps / 10, this) steps: at
#: steps / 10 alone a default run kept nothing when stopped within its first 200 steps. The
#: cost, measured on the CPU for the default gran run (patch 64, batch 8, 15 crops of 128 px):
#: a validation and the two checkpoint writes take 3.8 s, about 2 steps; every 50 steps that
#: is 4 % of the run's time, against 1 % every 200
TRAIN_MAX_VAL_EVERY = 50

#: Small-data defaults (README, "microdeblur finetune"): chosen on the measured small case
DEFAULT_INTENSITY_JITTER = 0.1
DEFAULT_ANCHOR_WEIGHT = 0.0
#: which weights train (``training.trainable``) and the share of each batch replayed from the
#: starting network's synthetic mixture (``finetune_data``); chosen by
#: benchmarks/finetune_recipes.py (README, "Small-data options")
TRAINABLE = ("all", "late", "norm-bias")
DEFAULT_TRAINABLE = "all"
DEFAULT_REPLAY = 0.0
#: validations without a better one before the run stops
DEFAULT_PATIENCE = 5
#: the fine-tuned weights replace the starting ones only if they beat them on the held-out
#: region by this much: a smaller validation gain is within its noise (on the light-sheet
#: stack a +0.08 dB validation gain came with -0.05 dB on the other half of the field)
DEFAULT_MIN_GAIN_DB = 0.1
#: Paired fine-tuning: the step bound and learning rate, and the time limit the CLI and the
#: dock give a run unless told otherwise. Measured by benchmarks/finetune_recipes.py on
#: training images of a set no default network saw (README, "Fine-tuning"): 5 minutes at lr
#: 1e-3 gained +1.12 dB over the start, against +0.77 for 200 steps at lr 1e-4.
PAIRED_STEPS, PAIRED_LR = 2000, 1e-3
PAIRED_MINUTES = 5.0

#: Self-supervised adaptation (`finetune --self`): the time box ends a run; measured on the
#: cross-dataset sets' training images (benchmarks/self_adapt_recipes.py): lr 1e-3 gained
#: most within 90 s for the blind defaults
SELF_ADAPT_MINUTES = 3.0
SELF_ADAPT_MAX_STEPS, SELF_ADAPT_LR = 2000, 1e-3
