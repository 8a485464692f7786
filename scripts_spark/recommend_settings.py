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

    # --- ALS (explicit ratings, non-negative factors, cold-start rows dropped) ----------------------------------
    # Ranks and regularisation around Spark's defaults (rank 10, regParam 0.1). Measured on validation: regParam
    # 0.05 overfits at both ranks (RMSE 0.974 / 0.992); rank 50 ranks better than rank 10 (best NDCG@10 0.074 vs
    # 0.066) while 0.1 and 0.15 are within 0.002 of each other; an exploratory rank 100 was no better than 50.
    # Six points is what the step can afford: one fit + scoring took 15-70 s on the shared 2-core machine.
    als_ranks: tuple[int, ...] = (10, 50)
    als_reg_params: tuple[float, ...] = (0.05, 0.1, 0.15)
    als_max_iter: int = 15        # 1.5 x Spark's default of 10, a margin for rank 50 to converge; not tuned
    # ALS user/item blocks; 0 = Spark's default parallelism (the cores). Spark's default of 10 x 10 blocks means
    # 100 tiny tasks per iteration on a workstation: measured on the sample with local[2] (machine under load), a
    # fit took 36 s with 10 blocks and 26 s with 2. On a cluster the default parallelism is the cluster's cores.
    als_blocks: int = 0
    # Candidate films must have at least this many ratings in the training data. Explicit ALS ranks films by
    # predicted rating, and its highest predictions go to films a handful of people rated 5.0: unfiltered, its
    # precision@10 on the test split is 0.015 against 0.058 for "most popular" (model_metrics row als_unfiltered).
    # The threshold is chosen per model by validation NDCG@k from this grid, and the same rule is offered to the
    # bias baseline (filtering is cheap: every threshold re-uses one scoring of the widest candidate set).
    # Measured on validation with rank 50 / regParam 0.1, threshold 50 / 100 / 150 / 200: NDCG@10 0.074 / 0.083 /
    # 0.080 / 0.052, with 243 / 62 / 25 / 7 eligible films; 100 is the optimum, so ALS personalises the order of
    # the well-known films rather than digging up obscure ones (the bias baseline picks 150, the grid's top: past
    # that, lists run short). Serving tops up a list the threshold leaves short (users who rated nearly every
    # eligible film) with the best-scored other films.
    min_item_ratings_grid: tuple[int, ...] = (10, 25, 50, 100, 150)
    # Which validation figure picks the ALS grid point: the served product is a top-N list, so ranking quality.
    selection_metric: str = "ndcg_at_k"     # or "rmse"
    seed: int = 42                # ALS initialisation: fixed so that a re-run of the same data gives the same lists

    def __post_init__(self) -> None:
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction {self.holdout_fraction} must be between 0 and 1")
        if self.selection_metric not in ("ndcg_at_k", "rmse"):
            raise ValueError(f"selection_metric {self.selection_metric!r} must be 'ndcg_at_k' or 'rmse'")
        if not (self.als_ranks and self.als_reg_params and self.min_item_ratings_grid and self.bias_reg_grid):
            raise ValueError("every grid needs at least one value")


DEFAULT = RecommendSettings()
