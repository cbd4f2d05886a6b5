TIMING_RECORDS.extend(stage_records("tasks", ["run_tasks"], None))
TIMING_RECORDS.extend(
    demo_record("demo_tasks", DEMO_TASK_MANIFEST)
    if "tasks" in STAGES and any(DATASETS[n].root == DEMO_TASK_ROOT for n in datasets_of("tasks"))
    else []
)


rule demo_tasks:
    output:
        manifest="data/tasks/manifest.jsonl",
        root=directory("data/tasks/root"),
        timing="results/timing/demo_tasks.json",
    log:
        "logs/demo_tasks.log",
    benchmark:
        "results/benchmarks/demo_tasks.tsv"
    conda:
        "../envs/poolpipe.yaml"
    threads: 1
    resources:
        mem_mb=512,
        runtime=10,
    params:
        **named(
            files=config["demo"]["tasks"]["files"],
            tasks=config["demo"]["tasks"]["tasks"],
            seed=config["demo"]["seed"],
        ),
    script:
        "../scripts/demo_tasks.py"


rule run_tasks:
    input:
        manifest=dataset_input,
        root=tasks_root,
    output:
        results="results/tasks/{dataset}/results.tsv",
        timing="results/timing/run_tasks/{dataset}.json",
    log:
        "logs/run_tasks/{dataset}.log",
    benchmark:
        "results/benchmarks/run_tasks/{dataset}.tsv"
    wildcard_constraints:
        dataset=dataset_pattern("tasks"),
    conda:
        "../envs/poolpipe.yaml"
    threads: config["tasks"]["threads"]
    resources:
        mem_mb=pool_mem_mb,
        runtime=60,
    params:
        **named(
            timeout_s=config["tasks"]["timeout_s"],
            retries=config["tasks"]["retries"],
            backoff_s=config["tasks"]["backoff_s"],
            backoff_max_s=config["tasks"]["backoff_max_s"],
        ),
        identity=input_identity,
    script:
        "../scripts/run_tasks.py"
