"""Fictitious EANs (GLNs) of the partners the gateway and health test worlds share."""

from __future__ import annotations

from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

HOSPITAL = HOSPITAL_EAN  # 5790001382445, the sender of the sample messages
HOSPITAL2 = "5790001382452"
MUNICIPALITY = MUNICIPALITY_EAN  # 5790000198764, the receiver of the sample messages
MUNICIPALITY2 = "5790000198771"
