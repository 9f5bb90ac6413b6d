"""The batch operator's parts: thousands of images in one task, each paid for once.

* :mod:`.items`: reading ``images`` into items over shared defaults, and checking every one
  before the first create;
* :mod:`.ledger`: each item's :class:`~airflow_provider_i2v.state.Entry`, chunked in
  ``task_state_store`` (the same rules as the single operator's ledger);
* :mod:`.submit`: the creates, with bounded concurrency;
* :mod:`.wait`: polling every pending generation on one event loop (the trigger's job,
  and the blocking path's);
* :mod:`.manifest`: the result: one line per item, totals, written to ``output_dir``.
"""
