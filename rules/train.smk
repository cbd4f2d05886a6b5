TIMING_RECORDS.extend(
    stage_records("train", ["split_train", "merge_train"], "train_chunk", "demo_train", DEMO_TRAIN)
)


rule demo_train:
    output:
        csv="data/train.csv",
        timing="results/timing/demo_train.json",
    log:
        "logs/demo_train.log",
    benchmark:
        "results/benchmarks/demo_train.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=512,
        runtime=30,
    params:
        **named(
            rows=config["demo"]["train"]["rows"],
            coef=config["demo"]["train"]["coef"],
            intercept=config["demo"]["train"]["intercept"],
            noise=config["demo"]["train"]["noise"],
            bad_rows=config["demo"]["train"]["bad_rows"],
            seed=config["demo"]["seed"],
        ),
    script:
        "../scripts/demo_train.py"


rule split_train:
    input:
        dataset_input,
    output:
        manifest="results/train/{dataset}/chunks.tsv",
        columns="results/train/{dataset}/columns.json",
        timing="results/timing/split_train/{dataset}.json",
    log:
        "logs/split_train/{dataset}.log",
    benchmark:
        "results/benchmarks/split_train/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("train"),
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=256,
        runtime=10,
    params:
        **named(
            chunks=split_chunks,
            target=train_target,
            features=train_features,
            delimiter=config["train"]["delimiter"],
            weights=config["train"]["weights"],
        ),
        identity=input_identity,
    script:
        "../scripts/split_train.py"


rule train_chunk:
    input:
        manifest=chunk_manifest("train"),
        columns="results/train/{dataset}/columns.json",
    output:
        part="results/train/{dataset}/parts/{chunk}.json",
        timing="results/timing/train_chunk/{dataset}/{chunk}.json",
    log:
        "logs/train_chunk/{dataset}/{chunk}.log",
    benchmark:
        "results/benchmarks/train_chunk/{dataset}/{chunk}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("train"),
        chunk=r"\d+",
    group:
        chunk_group("train")
    conda:
        "../envs/poolpipe.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=train_pool_mem_mb,
        runtime=60,
    params:
        **named(
            strict=config["train"]["strict"],
            compare_serial=compare_serial,
            serial_note=serial_note,
        ),
    script:
        "../scripts/train_chunk.py"


rule merge_train:
    input:
        parts=train_parts,
        columns="results/train/{dataset}/columns.json",
        manifest="results/train/{dataset}/chunks.tsv",
    output:
        model="results/train/{dataset}/model.json",
        summary="results/train/{dataset}/summary.txt",
        timing="results/timing/merge_train/{dataset}.json",
    log:
        "logs/merge_train/{dataset}.log",
    benchmark:
        "results/benchmarks/merge_train/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("train"),
    conda:
        "../envs/poolpipe.yaml"
    threads: merge_train_threads
    resources:
        mem_mb=merge_train_mem_mb,
        runtime=30,
    params:
        **named(
            strict=config["train"]["strict"],
            compare_full_fit=compare_full_fit,
            full_fit_max_mb=config["train"]["full_fit_max_mb"],
            alpha=config["train"]["alpha"],
            ridge=config["train"]["ridge"],
            robust=config["train"]["robust"],
            intercept=config["train"]["intercept"],
        ),
    script:
        "../scripts/merge_train.py"


if "train" in STAGES:
    TIMING_RECORDS.extend(f"results/timing/predict/{name}.json" for name in datasets_of("predict"))
    if any(DATASETS[name].path == DEMO_HOLDOUT for name in datasets_of("predict")):
        TIMING_RECORDS.extend(demo_record("demo_holdout", DEMO_HOLDOUT))


rule demo_holdout:
    output:
        csv=DEMO_HOLDOUT,
        timing="results/timing/demo_holdout.json",
    log:
        "logs/demo_holdout.log",
    benchmark:
        "results/benchmarks/demo_holdout.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=512,
        runtime=30,
    params:
        **named(
            rows=config["demo"]["train"]["holdout_rows"],
            coef=config["demo"]["train"]["coef"],
            intercept=config["demo"]["train"]["intercept"],
            noise=config["demo"]["train"]["noise"],
            bad_rows=0,
            seed=config["demo"]["seed"] + 1,
        ),
    script:
        "../scripts/demo_train.py"


rule predict:
    input:
        data=dataset_input,
        model=predict_model,
    output:
        predictions="results/predict/{dataset}/predictions.csv",
        summary="results/predict/{dataset}/summary.json",
        timing="results/timing/predict/{dataset}.json",
    log:
        "logs/predict/{dataset}.log",
    benchmark:
        "results/benchmarks/predict/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("predict"),
    conda:
        "../envs/poolpipe.yaml"
    threads: config["predict"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=60,
    params:
        **named(
            method=config["predict"]["method"],
            delimiter=config["predict"]["delimiter"],
        ),
        identity=input_identity,
    script:
        "../scripts/predict.py"
