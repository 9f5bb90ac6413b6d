"""One generation's life cycle, the same for the single operator and every batch item.

Read in this order (each module one job; calls go down the list, never up):

* :mod:`.request`: the parameters' rules, the checked request and its digest;
* :mod:`.record`: what ``task_state_store`` holds per paid slot (one :class:`~.record.Entry`
  shape for a single task and every batch item) and how it is read and written;
* :mod:`.rules`: the pay-once rules: what an earlier try left means for this one
  (:func:`~.rules.decide`), and what each step of a create and each interruption of it
  means (:class:`~.rules.PaidCreate`);
* :mod:`.submit`: the creates of one or many slots through those rules, on one event loop;
* :mod:`.schedule`, :mod:`.progress`, :mod:`.wait`: when to poll, what to log, and the
  one wait loop (trigger, worker, sensor and batch alike);
* :mod:`.outcome`: a terminal generation as the compact value that travels in events,
  the record and the result;
* :mod:`.keys`: XCom keys and result keys.
"""
