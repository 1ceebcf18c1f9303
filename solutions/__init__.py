"""Worked solutions of the labs' exercises, one module a lab (``solutions/NN_<lab>.py``).

Each exercise NN.n has ``solve_NN_n(preset="smoke")``, which does the work with the helpers and returns the answer
that ``helpers.exercises.check("NN.n", answer)`` accepts. The module names start with the lab's number, so import
them with ``importlib.import_module("solutions.03_full_fine_tuning_with_accelerate")``.
"""
