"""archlab: the architecture families of modern AI from shared, tested blocks.

Every mechanism and hard limit a family is known for is a measured *claim* (see ``archlab.lab``);
``archlab atlas`` runs them all into a browsable report.
"""

__version__ = "0.1.0"
