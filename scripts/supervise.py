"""Rule supervise: run the configured programs and worker loops under the supervisor, write
ticks.tsv; each program's output goes to logs/supervise/NAME.log."""

from poolpipe import supervise as sv
from poolpipe.core import Stopwatch, run_script, write_job_timing


def main(smk):
    p = smk.params
    loops = sv.loops_from_config(p.workers)
    programs = sv.programs_from_config(p.programs)
    outputs = {"ticks": smk.output.ticks, "status": smk.output.status}
    sv.check_paths(programs, p.log_dir, {**outputs, "log": smk.log[0]})
    settings = sv.SupervisorSettings(
        duration_s=p.duration_s,
        restart=p.restart,
        max_restarts=p.max_restarts,
        heartbeat_timeout_s=p.heartbeat_timeout_s,
        stop_timeout_s=p.stop_timeout_s,
        stall_timeout_s=p.stall_timeout_s,
        restart_backoff_s=p.restart_backoff_s,
        restart_backoff_max_s=p.restart_backoff_max_s,
        restart_jitter=p.restart_jitter,
        restart_window_s=p.restart_window_s,
    )
    with Stopwatch() as watch:
        run = sv.supervise(
            loops, settings, status=smk.output.status, programs=programs, log_dir=p.log_dir
        )
    sv.check(run)
    sv.write_ticks(smk.output.ticks, run)
    ticks = sum(row.ticks for row in run.rows)
    write_job_timing(
        smk, "supervise", watch, items=ticks, size=0, processes=len(loops) + len(programs)
    )


run_script(snakemake, main)  # noqa: F821
