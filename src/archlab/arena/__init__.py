"""The arena: every language-model architecture of the ``lm`` target trained on the same bytes at a matched
size, and ranked on quality, speed, decoding memory and recall in one table (``archlab arena lm``).

It names no family: the architectures are the recipes of the ``lm`` target (``archlab.train.recipe``), sized by
``matching``, each at its learning rate (``learning_rate``), trained by the one loop (``archlab.train.loop.fit``),
measured by ``measure`` and ``recall`` (MQAR, from the shared ``archlab.data.synthetic``) and written by
``report``.
"""
