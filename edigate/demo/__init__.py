"""`edigate demo`: the gateway with simulated hospital and municipality systems, telling one outage's story.

Fictitious data only: the Region Syddanmark example's fictitious EANs, made-up CPR numbers and the patient
"Testperson Demo".
"""
