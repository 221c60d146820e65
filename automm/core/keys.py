"""Names of the attributes automm writes on Optuna trials and studies (one place for every key).

Trial user attributes are visible in optuna-dashboard; system attributes hold pointers to
artifacts and sampler state.
"""

from __future__ import annotations

# trial user attributes, written by the objective
GENOTYPE = "genotype"
CACHE_KEY = "cache_key"  # genotype plus where its weights started (KB version, trial)
DUPLICATE_OF = "duplicate_of"
N_PARAMS = "n_params"
EPOCHS = "epochs"
BEST_EPOCH = "best_epoch"
SECONDS = "seconds"
VAL_CURVE = "val_curve"
INITIAL_SCORE = "initial_score"
DIAGRAM = "diagram_artifact"
BASELINE = "baseline"  # the first-try architecture an enqueued trial stands for
FOLDS = "folds"  # folds this study scores a candidate on
FOLD_SCORES = "fold_scores"  # one validation score per fold scored
FOLD_BEST_EPOCHS = "fold_best_epochs"
RACED_OUT = "raced_out"  # stopped before the last fold: its value is a partial mean
RACED_AT_EPOCH = "raced_at_epoch"  # raced out inside fold 0, after this epoch (its fold score is partial)
# written by KS-NAS
GENERATION = "generation"
KB_VERSION = "kb_version"
KB_SHA256 = "kb_sha256"
KB_CONTRIBUTES = "kb_contributes"
CONFIRMS = "confirms"  # a from-scratch confirmation of this earlier warm-started trial (KS-NAS)
KB_FOLDS = "kb_folds"  # folds warm-started from their own fold's KB (absent: fold 0 only)
# written by MFAS
INHERITED_LAYERS = "inherited_layers"
# written by BM-NAS
BMNAS_RECIPE = "bmnas_recipe"  # the search's settings (its Optuna parameters, readable)
BMNAS_SEARCH = "bmnas_search"  # summary: derivation epoch, architecture lr, decidedness, supernet scores
BMNAS_HISTORY = "bmnas_history_artifact"  # JSON artifact: architecture weights and genotype per epoch
BMNAS_SUPERNET = "bmnas_supernet"  # pointer (artifact id, sha256) to the supernet's weights at the derivation epoch
# written by MMnas
MMNAS_RECIPE = "mmnas_recipe"  # the search's settings (its Optuna parameters, readable)
MMNAS_SEARCH = "mmnas_search"  # summary: architecture lr, supernet scores, how decided the probabilities are
MMNAS_HISTORY = "mmnas_history_artifact"  # JSON artifact: op probabilities and genotype per epoch

# study user attributes
META = "automm"  # data source, seed, method, settings: what a resumed study needs
DATASET_SUMMARY = "dataset_summary"
METRIC = "metric"
EVALUATION = "evaluation"
RETRAIN = "retrain"
ENSEMBLE = "ensemble"  # the chosen ensemble: members and weights

# system attributes (artifact pointers and sampler state)
KB_POINTER = "automm:kb:"  # + version -> pointer of fold 0's (or the only) KB version (study)
KB_FOLD_POINTER = "automm:kbfold:"  # + "<fold>:<version>" -> pointer of fold k's KB version, k >= 1 (study)
LINEAR = "automm:linear"  # the linear candidate: its C, scores and out-of-fold predictions (study)
PREDICTIONS = "automm:predictions"  # pointer to a trial's out-of-fold probabilities (trial)
FOLD_NETWORKS = "automm:fold_networks"  # pointer to a trial's trained fold networks, kept for delivery (trial)
FOLD_NETWORKS_PRUNED = "automm:fold_networks_pruned:"  # + trial number: its kept fold networks were deleted (study)
# + trial number -> its kept warm-started fold networks trained on after the search: pointers to the networks
# and their out-of-fold predictions, fold scores, epochs, seconds (study; `automm.store.fold_networks`)
FOLD_NETWORKS_FINISHED = "automm:fold_networks_finished:"
TRIAL_WEIGHTS = "automm:weights"  # pointer to a trial's trained weights (fold 0) waiting for the KB (trial)
# the genes an Optuna sampler proposed for a trial stored with readable parameters (`ReadableTuner`) (trial)
TUNER_GENES = "automm:genes"
LAYER_BANK = "automm:layer_bank"  # {"<layer>:<in_width>": pointer} (study)
MFAS_STEP = "MFASSampler:step:"  # + step -> proposals (study)
PROPOSED = "automm:proposed"  # the genotype a sampler chose for a trial, before its parameters exist (trial)
SURROGATE_EVIDENCE = "automm:surrogate:"  # + generation -> trial numbers the surrogate is fitted on (study)
