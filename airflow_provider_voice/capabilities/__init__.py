"""What the vendors can do, said once for all of them.

Each capability (voice campaign, SMS, blacklist, click-to-call...) has a protocol here and the logic
every vendor shares (validation, delivery through the engine, exports). Each vendor implements it in
its own folder, ``vendors/<vendor>/``.
"""
