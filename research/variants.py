"""The ablation's variants: each one factor changed from the reference recipe of its model.

``python -m research.ablation run --variants NAME ...`` trains them; the rule of each lever
of issue 23 names its variants here (``research/results/*/RULES*.md``).
"""

#: The reference recipe (../shared/reference) in library terms, per model.
REFERENCE = {
    "baseline": {"n_fft": 1024, "time_shift_per": "clip", "pooling": "time_mean"},
    "halluaudio": {"n_fft": 1024, "time_shift_per": "clip", "pooling": "time_mean",
                   "fill": "nan", "split_hz": 2000.0, "per_view_weight": 0.0},
    "time_concept": {"n_fft": 1024, "time_shift_per": "clip", "pooling": "time_mean",
                     "fill": "nan", "per_view_weight": 0.0},
}
#: variant name -> (model, the one factor changed from REFERENCE[model])
VARIANTS = {
    "base_ref": ("baseline", {}),
    "base_episode_shift": ("baseline", {"time_shift_per": "episode"}),
    "base_nfft2048": ("baseline", {"n_fft": 2048}),
    "base_flatten": ("baseline", {"pooling": "flatten"}),
    # the defaults before 2026-11-26 (with --epochs 21 --lr-step 7): transfer_cause R4
    "base_old_defaults": ("baseline", {"n_fft": 2048, "time_shift_per": "episode"}),
    # equal wall time instead of equal steps: a 3-view step costs about 3 baseline steps,
    # so the baseline gets 3x the epochs (and lr steps): 1890 steps, lr /10 every 630
    "base_3x_steps": ("baseline", {"epochs_factor": 3}),
    "hallu_ref": ("halluaudio", {}),
    "hallu_fill_min": ("halluaudio", {"fill": "min"}),
    "hallu_per_view": ("halluaudio", {"per_view_weight": 1.0}),
    # branch splits other than 2 kHz (the paper's; reproduce --sweep scores more)
    "hallu_split1000": ("halluaudio", {"split_hz": 1000.0}),
    "hallu_split4000": ("halluaudio", {"split_hz": 4000.0}),
    # the whole-spectrogram branch starts from the same seed's trained base_ref backbone
    "hallu_init_base": ("halluaudio", {"init_whole_from": "base_ref"}),
    "time_ref": ("time_concept", {}),
    # training episodes of more classes than the test's 5 (Snell et al. 2017 trained
    # prototypical networks with a higher way than they tested); still 5-shot, 5 queries
    "base_way10": ("baseline", {"n_way": 10}),
    "base_way20": ("baseline", {"n_way": 20}),
    "hallu_pv_way20": ("halluaudio", {"per_view_weight": 1.0, "n_way": 20}),
    # 1-shot training episodes (5-way, 5 queries), for the 1-shot settings only: Snell et
    # al. (2017) matched the training shot to the test's; every other model trains 5-shot
    "base_shot1": ("baseline", {"k_shot": 1}),
    "hallu_pv_shot1": ("halluaudio", {"per_view_weight": 1.0, "k_shot": 1}),
    # hallu_init_base with the per-view losses (the library's HalluAudio)
    "hallu_pv_init_base": ("halluaudio", {"per_view_weight": 1.0,
                                          "init_whole_from": "base_ref"}),
    # SpecAugment (Park et al. 2019) in training: per clip 2 bands of up to 16 mel rows (of 128)
    # and 2 of up to 16 frames (of 160) read as the training mean; fixed before any run
    "base_specaug": ("baseline", {"spec_augment": {"freq": (2, 16), "time": (2, 16)}}),
    "hallu_pv_specaug": ("halluaudio", {"per_view_weight": 1.0,
                                        "spec_augment": {"freq": (2, 16), "time": (2, 16)}}),
    # supervised pre-training (cross-entropy over the training classes, 30 passes, about a third
    # more clip passes than the 63 x 30 episodes) before the episodes; fixed before any run
    "base_pretrain": ("baseline", {"pretrain_epochs": 30}),
    "hallu_pv_pretrain": ("halluaudio", {"per_view_weight": 1.0, "pretrain_epochs": 30}),
    # cosine metric in training, temperature 10 (research/cosine.py; fixed, not tuned)
    "base_cosine": ("baseline", {"train_temperature": 10.0}),
    # capacity (research/results/width/RULES.md): 2x / 4x the channels of every block
    "base_wide128": ("baseline", {"channels": (128,) * 3}),
    "base_wide256": ("baseline", {"channels": (256,) * 3}),
    "hallu_pv_wide128": ("halluaudio", {"per_view_weight": 1.0, "channels": (128,) * 3}),
    "base_supcon": ("baseline", {"supcon": 1.0}),  # 2 views + contrast: research/supcon.py
    # the same two views, each clip's only positive its other view (SimCLR's instance
    # contrast, self-supervised): research/results/simclr/RULES.md; fixed, not tuned
    "base_simclr": ("baseline", {"simclr": 1.0}),
    # mixup of each training episode's queries, Beta(0.4, 0.4) shares (research/mixup.py,
    # research/results/mixup/RULES.md; fixed, not tuned)
    "base_mixup": ("baseline", {"mixup": 0.4}),
    # first-order MAML around the episode loss, 5 inner SGD steps of lr 0.01 on the support
    # (research/protomaml.py; its one-seed screen diverged: research/results/fomaml)
    "base_fomaml": ("baseline", {"fomaml": 5}),
    # its redo with the authors' inner loop: batch statistics, distances averaged over the
    # dimensions, inner lr 0.2, still 5 steps (research/results/fomaml/RULES_authors.md)
    "base_fomaml_authors": ("baseline", {"fomaml_authors": 5}),
    # the loss on an MLP projection head, dropped for prediction (research/projection.py,
    # research/results/head/RULES.md; fixed, not tuned)
    "base_head": ("baseline", {"head": True}),
    # the last conv block at a tenth of the net's learning rate; a linear decoder that must
    # rebuild block 2's time-averaged output from the embedding, weight 1 (research/depth.py,
    # research/results/depth/RULES.md; fixed, not tuned)
    "base_slow_last": ("baseline", {"slow_last": 0.1}),
    "base_recon": ("baseline", {"recon": 1.0}),
    # the equal-weight mean of the weights after every epoch from the first learning-rate
    # drop on, batch norm estimated again, instead of the best epoch's weights
    # (research/averaging.py, research/results/averaging/RULES.md; fixed, not tuned)
    "base_swa": ("baseline", {"swa": "first_drop"}),
    # the same mean, the lr held at 1/10 of the initial from the first drop to the end
    "base_swa_hold": ("baseline", {"swa_hold": 0.1}),
    # the last block pooled over time as PANNs do (mean + max) or as x-vectors do (mean and
    # standard deviation side by side): sklearn_hallu.nn.pool_feature_map
    # (research/results/pooling/RULES.md)
    "base_pool_meanmax": ("baseline", {"pooling": "time_mean_max"}),
    "base_pool_meanstd": ("baseline", {"pooling": "time_mean_std"}),
    # no max pooling along time in the last block: the mean over time reads its 10 cells
    # instead of 3 (HalluAudioClassifier(time_pool=...); research/results/time_pool/RULES.md)
    "base_tpool1": ("baseline", {"time_pool": (4, 4, 1)}),
    # the same 10 cells, block 3 on a finer grid (RULES.md's second lever, run in stop 47)
    "base_tpool22": ("baseline", {"time_pool": (4, 2, 2)}),
    # on top of base_tpool1, the last block pools 2 mel cells instead of 4: the embedding
    # keeps 4 mel cells (256 dimensions) instead of 2 (HalluAudioClassifier(freq_pool=...);
    # research/results/freq_pool/RULES.md)
    "base_tpool1_f2": ("baseline", {"time_pool": (4, 4, 1), "freq_pool": (4, 4, 2)}),
    # on top of base_tpool1, a fourth conv block on block 3's 8 x 10 map: block 3 does not
    # pool, block 4 pools 4 mel rows, so the embedding is the same 2 x 10 cells averaged
    # (research/results/deep4/RULES.md)
    "base_tpool1_deep4": ("baseline", {"channels": (64, 64, 64, 64), "time_pool": (4, 4, 1, 1),
                                       "freq_pool": (4, 4, 1, 4)}),
    # on top of base_tpool1, twice the epochs and the epochs per lr step
    # (research/results/long2x/RULES.md)
    "base_tpool1_long2x": ("baseline", {"time_pool": (4, 4, 1), "epochs_factor": 2}),
    # twice that again: four times the epochs and the epochs per lr step
    # (research/results/long4x/RULES.md)
    "base_tpool1_long4x": ("baseline", {"time_pool": (4, 4, 1), "epochs_factor": 4}),
    # each training clip moved along the mel axis by up to 4 rows (about VTLP's 10 %), or
    # given a random smooth equaliser of up to 6 dB (FilterAugment's linear type)
    # (research/spectral.py, research/results/spectral/RULES.md; fixed, not tuned)
    "base_fshift4": ("baseline", {"fshift": 4}),
    "base_filtergain6": ("baseline", {"filter_gain": 6.0}),
    "base_decor1": ("baseline", {"decor": 1.0}),
    # a fresh network taught by the same seed's trained base_ref: the loss is half the
    # prototypical loss and half T^2 KL(teacher || student) of the episode's soft outputs at
    # T = 4 (born-again networks; research/distill.py, research/results/distill/RULES.md)
    "base_distill": ("baseline", {"distill": "base_ref"}),
}
#: a variant's reference when it is not its model's REFERENCE run (base_ref / hallu_ref)
REF_OF = {"hallu_pv_way20": "hallu_per_view", "hallu_pv_shot1": "hallu_per_view",
          "hallu_pv_init_base": "hallu_per_view", "hallu_pv_specaug": "hallu_per_view",
          "hallu_pv_pretrain": "hallu_per_view", "hallu_pv_wide128": "hallu_per_view"}


def variant_config(name):
    model, change = VARIANTS[name]
    return model, {**REFERENCE[model], **change}


def reference_of(name):
    """The variant its paired differences are taken against."""
    return REF_OF.get(name, "base_ref" if VARIANTS[name][0] == "baseline" else "hallu_ref")
