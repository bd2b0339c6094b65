"""Where a panel's heavy computation runs: in a worker thread when the app gives it one, else inline.

An anomaly report, a backward replay or a step diff of a 60,000-node step takes most of a
second of pure Python; on the GUI thread that is a frozen window. Inside the app the debug
panels share one worker (a microgpt_viz.app.jobs.JobRunner); on their own (tests, scripts) they
compute inline, so a call returns with the result already shown.

Only the newest request of a panel counts: a result that arrives after a newer request
(the next step came in while the old one was being checked) is dropped.
"""


class Background:
    def __init__(self):
        self.runner = None  # a JobRunner (submit(job, on_done, on_error)), or None to compute inline
        self._asked = 0  # number of the newest request
        self._answered = 0  # number of the newest request whose answer came back (or was dropped)

    @property
    def busy(self):
        """A request is being computed in the worker."""
        return self._answered < self._asked

    def cancel(self):
        """Forget what is being computed (its answer will be dropped)."""
        self._asked += 1
        self._answered = self._asked

    def run(self, job, on_done, on_error):
        """job() in the worker (or now), then on_done(result) or on_error(exception) here, unless superseded."""
        self._asked += 1
        number = self._asked

        def done(result):
            if number == self._asked:
                self._answered = number
                on_done(result)

        def failed(error):
            if number == self._asked:
                self._answered = number
                on_error(error)

        if self.runner is not None:
            self.runner.submit(job, done, failed)
            return
        try:
            result = job()
        except Exception as e:  # the same path a worker's failure takes
            failed(e)
        else:
            done(result)
