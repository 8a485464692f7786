"""Every number the recommender (step 07) uses, with how it was chosen.

Measured on the bundled MovieLens ml-latest-small (100,836 ratings, 610 users, 9,724 rated films; every user has
at least 20 ratings; a film has 10.4 ratings on average, median 3) with
`python -m scripts_spark run --steps 07` on a 2-core machine; the figures are rows of gold/model_metrics.
Hyper-parameters are chosen on a validation split carved out of the training part; the held-out test part is
touched once, to report the figures.
Tests pass smaller grids (`RecommendSettings(als_ranks=(2,), ...)`); the step uses `DEFAULT`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecommendSettings:
    # --- evaluation split ------------------------------------------------------------------------------------
    # Per-user time-aware holdout: each user's latest 20 % of ratings are the test part (the model is judged
    # on what the user rated next, never on the past). 20 % keeps >= 4 test ratings for the lightest users
    # (20 ratings) while training on 80 % of everyone's history.
    holdout_fraction: float = 0.2
    # Users with fewer ratings stay whole in training: a 1-2 rating history split in two teaches nothing and
    # measures nothing (none in ml-latest-small, where every user has >= 20).
    min_ratings_to_hold_out: int = 5

    # --- what is served and how it is judged -------------------------------------------------------------------
    top_n: int = 10               # recommendations written per user: one screen of an application's list
    eval_k: int = 10              # precision@k / NDCG@k cut-off: the same ten films a user would be shown
    # A held-out film counts as a hit when the user rated it >= 4.0 ("liked": 4.0 is the most common rating on the
    # scale, and 48 % of ml-latest-small ratings are >= 4.0). Lower ratings are films the user watched and did not like.
    relevant_rating: float = 4.0

    # --- movie stats -----------------------------------------------------------------------------------------------
    # Bayesian mean = (n * mean + m * C) / (n + m), C = the mean of all ratings. m = 10 is the average number of
    # ratings a film has (10.4): a film needs about as many ratings as the typical film before its own mean outweighs
    # the catalogue's. With m = 10 a film rated 5.0 twice scores (2*5 + 10*3.50)/12 = 3.75, below the well-rated
    # classics with hundreds of ratings (Shawshank: 317 ratings, mean 4.43 -> 4.40).
    shrinkage_prior_ratings: float = 10.0

    # --- baseline: global mean + user and item biases ---------------------------------------------------------
    # (item regularisation, user regularisation) in ratings-equivalents, Koren's damped baseline. Chosen by
    # validation RMSE among these three; measured on the validation split: 0.874 / 0.880 / 0.892 (5/5 chosen).
    bias_reg_grid: tuple[tuple[float, float], ...] = ((5.0, 5.0), (10.0, 10.0), (25.0, 10.0))

    # --- ALS grids: every point fitted on the fit part and judged on validation (RMSE and NDCG@k) ---------------
    # Measured on validation (the candidate threshold at its best, 100, for NDCG; seed 42) with a wider grid,
    # `RecommendSettings(als_ranks=(10, 50), als_reg_params=(0.1, 0.15), als_residual_ranks=(10, 50),
    # als_residual_reg_params=(0.05, 0.1, 0.2, 0.3))`. Points worse on both figures than a kept point were dropped,
    # so that the two variants together cost about what the six-point plain grid did (one fit + scoring: 15-60 s on
    # the shared 2-core machine; a rank 50 fit takes 2-5 x as long as a rank 10 one).
    #
    # Plain ALS (explicit ratings, non-negative factors, cold-start rows dropped), RMSE / NDCG@10:
    #   rank 10: regParam 0.1 0.918 / 0.080, 0.15 0.902 / 0.081;  rank 50: 0.1 0.917 / 0.083, 0.15 0.903 / 0.082.
    # Rank 50 ranks better at both regParams with the same RMSE, so rank 10 is dropped; regParam 0.05 overfits
    # (RMSE 0.974 / 0.992, NDCG 0.073 / 0.080) and was dropped earlier; an exploratory rank 100 was no better than 50.
    # Plain ALS never gets near the bias baseline's validation RMSE (0.874): it spends its factors on each user's
    # and film's rating level, which the biases model with two numbers.
    als_ranks: tuple[int, ...] = (50,)
    als_reg_params: tuple[float, ...] = (0.1, 0.15)
    # ALS on the residuals of the chosen bias model (rating - (mu + b_u + b_i)), prediction = mu + b_u + b_i + ALS:
    #   rank 10: regParam 0.05 0.944 / 0.067, 0.1 0.891 / 0.067, 0.2 0.865 / 0.070, 0.3 0.869 / 0.069;
    #   rank 50: regParam 0.05 0.881 / 0.064, 0.1 0.866 / 0.071, 0.2 0.864 / 0.071, 0.3 0.870 / 0.069.
    # Residuals are small (the biases already took the level out), so they need more regularisation than ratings:
    # 0.2 is the optimum at both ranks on both figures; 0.05, 0.3 and rank 10 are worse on both and dropped. 0.1
    # (0.003 RMSE behind) stays so that a change of data that moves the optimum shows up as a change of choice.
    als_residual_ranks: tuple[int, ...] = (50,)
    als_residual_reg_params: tuple[float, ...] = (0.1, 0.2)
    als_max_iter: int = 15        # 1.5 x Spark's default of 10, a margin for rank 50 to converge; not tuned
    # ALS cuts its RDD lineage by checkpointing the factors every this many iterations (the step gives Spark a
    # checkpoint folder for the run). Without it a task of iteration 15 carries 15 iterations of lineage; measured:
    # one step run on the sample (machine at load 10-13) died when deserialising such a task overflowed an executor
    # thread's stack (java.lang.StackOverflowError), after several clean runs. 5 keeps the lineage at a third of
    # that; a checkpoint writes the item factors once (a few MB on the sample).
    als_checkpoint_interval: int = 5
    # ALS user/item blocks; 0 = Spark's default parallelism (the cores). Spark's default of 10 x 10 blocks means
    # 100 tiny tasks per iteration on a workstation: measured on the sample with local[2] (machine under load), a
    # fit took 36 s with 10 blocks and 26 s with 2. On a cluster the default parallelism is the cluster's cores.
    als_blocks: int = 0
    # Candidate films must have at least this many ratings in the training data. Explicit ALS ranks films by
    # predicted rating, and its highest predictions go to films a handful of people rated 5.0: unfiltered, its
    # precision@10 on the test split is 0.015 (plain) / 0.023 (residual) against 0.058 for "most popular"
    # (model_metrics row <served ALS>_unfiltered).
    # The threshold is chosen per model by validation NDCG@k from this grid, and the same rule is offered to the
    # bias baseline (filtering is cheap: every threshold re-uses one scoring of the widest candidate set).
    # Measured on validation with rank 50 / regParam 0.1, threshold 50 / 100 / 150 / 200: NDCG@10 0.074 / 0.083 /
    # 0.080 / 0.052, with 243 / 62 / 25 / 7 eligible films; 100 is the optimum, so ALS personalises the order of
    # the well-known films rather than digging up obscure ones (the bias baseline picks 150, the grid's top: past
    # that, lists run short). Serving tops up a list the threshold leaves short (users who rated nearly every
    # eligible film) with the best-scored other films.
    # Thresholds 10 and 25 were in the grid until measured: at most 0.033 / 0.057 validation NDCG@10 for any model
    # and grid point, against 0.068-0.083 at 100. They are dropped because the smallest threshold sets the
    # candidate set every grid point scores (590 users x 1,400 films at 10, x 240 at 50). "Most popular" ranks
    # the smallest threshold's candidates too: its list changes only for a user who rated nearly all of them.
    min_item_ratings_grid: tuple[int, ...] = (50, 100, 150)
    # Which validation figure picks the ALS point (and so the variant) that is served. The served product is a
    # top-N list, so ranking quality; but every list also shows `predicted_rating`, so by default only points that
    # predict ratings better than the bias baseline on validation qualify (when none does, the best point of all is
    # served and the run's notes say that it does not beat the baselines).
    # Measured: plain ALS has the best validation NDCG@10 (0.083 against 0.071) but RMSE 0.917 against the
    # baseline's 0.874; the residual variant qualifies (0.864). On the test split that is RMSE 0.875 vs 0.927 and
    # NDCG@10 0.077 vs 0.093: the rule gives up ranking quality for trustworthy ratings. Set
    # `served_must_beat_bias_rmse=False` to serve the best-ranking point whatever its RMSE.
    selection_metric: str = "ndcg_at_k"     # or "rmse"
    served_must_beat_bias_rmse: bool = True
    seed: int = 42                # ALS initialisation: fixed so that a re-run of the same data gives the same lists
    # False: skip the validation search and serve `served_model` at the first point of each grid; every model is
    # still scored once on the test split, so gold/model_metrics keeps its test rows (see QUICK).
    tune_on_validation: bool = True
    served_model: str = "als_residual"   # used only when tune_on_validation is False

    def __post_init__(self) -> None:
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction {self.holdout_fraction} must be between 0 and 1")
        if self.served_model not in ("als", "als_residual"):
            raise ValueError(f"served_model {self.served_model!r} must be 'als' or 'als_residual'")
        if self.selection_metric not in ("ndcg_at_k", "rmse"):
            raise ValueError(f"selection_metric {self.selection_metric!r} must be 'ndcg_at_k' or 'rmse'")
        if not (self.als_ranks and self.als_reg_params and self.als_residual_ranks and self.als_residual_reg_params
                and self.min_item_ratings_grid and self.bias_reg_grid):
            raise ValueError("every grid needs at least one value")


DEFAULT = RecommendSettings()
# `make run` on a workstation (RECOMMEND_SEARCH=quick): the point the full search above chose on the sample, served
# without searching again, at rank 10 instead of 50 (validation RMSE / NDCG@10 0.865 / 0.070 against 0.864 / 0.071:
# the same quality for a fifth of the fitting). Measured on the sample, step 07 takes ~225 s with DEFAULT (4 ALS
# points x 2 variants, 3 thresholds, 3 bias settings) and ~50 s with QUICK, which keeps `make run` under 3 minutes.
QUICK = RecommendSettings(als_ranks=(10,), als_reg_params=(0.15,), als_residual_ranks=(10,),
                          als_residual_reg_params=(0.2,), min_item_ratings_grid=(100,), bias_reg_grid=((5.0, 5.0),),
                          tune_on_validation=False, served_model="als_residual")
