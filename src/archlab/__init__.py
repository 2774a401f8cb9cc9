"""archlab: the architecture families of modern AI from shared, tested blocks.

Every mechanism and hard limit a family is known for is a measured *claim* (see ``archlab.lab``);
``archlab atlas`` runs them all into a browsable report.

Importing archlab before torch sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment chose a policy: the
OpenMP threads of torch (and of the compiled scan kernel, which links the system's OpenMP runtime beside
torch's) then sleep between parallel regions instead of spinning. On a machine with as many threads as cores,
spinning threads of one pool hold the cores the other pool's threads wait for: a two-thread Mamba training
step measured 1.67 s with spinning and 0.18-0.26 s with sleeping threads, beside one other busy process on
2 cores. The variable is read when torch loads its OpenMP runtime, so it has no effect once torch is imported.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
