"""Run leaderboard rows as Ray tasks (one remote task per row, results as they complete).

Ray is imported here only, so the local path never loads it. ``address`` is anything
``ray.init(address=...)`` takes: ``auto``, ``HOST:PORT``, ``ray://HOST:10001``, or ``local`` for a
fresh single-machine instance (started without the dashboard). Every node must have
recbole-gcnprune installed and the dataset under the same ``data_path``; rows return their log
text, which the driver writes under ``output/logs/``.
"""


def _failed(task, err):
    cause = getattr(err, "cause", None) or err
    return dict(task, status="failed", error=f"{type(cause).__name__}: {cause}")


def _init(ray, address, init_kwargs):
    """Connect (or start, for ``local``); True when this call started the connection."""
    if ray.is_initialized():
        return False
    kwargs = dict(init_kwargs or {})
    if address == "local":
        kwargs.setdefault("include_dashboard", False)
    ray.init(address=address, **kwargs)
    return True


def run_on_ray(tasks, on_result, address, init_kwargs=None, num_cpus=1, num_gpus=0):
    """Submit every task, then hand each row to ``on_result(task, row)`` as it completes; on
    Ctrl-C (or any error) the unfinished tasks are cancelled."""
    import ray

    from recbole_gcnprune.leaderboard.row import execute_row

    started = _init(ray, address, init_kwargs)
    remote_row = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(execute_row)
    pending = {}
    try:
        pending = {remote_row.remote(task): task for task in tasks}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ref)
            try:
                row = ray.get(ref)
            except ray.exceptions.RayError as err:
                row = _failed(task, err)
            on_result(task, row)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
