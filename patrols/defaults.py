"""Domain defaults in one visible place, each with where it comes from.

An area can override any of these in its ``area.toml`` (``[defaults]``,
``[weights]``, ``[half_life_days]``, ``[shifts]``); nothing else in the package
hard-codes them.
"""

from __future__ import annotations

from datetime import time

# Dwell at a hotspot. The Koper curve: a stop needs about 10 minutes to beat a
# drive-by and 11-15 minutes is best.
HOTSPOT_DWELL_MIN = 15.0
# Dwell at a protected site: a visible check of the address and its approaches.
PROTECTIVE_DWELL_MIN = 10.0
# Share of each shift kept free for calls for service.
RESERVE_SHARE = 0.40
# A point farther than this from any street is refused as off the network.
MAX_SNAP_M = 250.0
# Walking speed of a foot patrol (km/h).
FOOT_SPEED_KMH = 4.8
# Streets longer than this are split into equal parts at build time, so a point
# snaps to the network within half this distance along its street (rural
# OSMnx edges run for kilometres between junctions).
MAX_EDGE_M = 100.0
# A redacted bundle shows no stop this close to a protected site, whatever the
# stop is for: a hotspot visit at a representative's door would point at it.
REDACTION_CLEARANCE_M = 50.0
# How far the network reaches beyond an area's boundary polygon, so routes may
# leave and re-enter it (a bypass, a bridge just outside).
BOUNDARY_BUFFER_M = 1000.0
# Patrol points chosen as hotspot candidates for a shift, and their spacing.
# A fixed number when set above 0 in an area; by default the candidates grow with the
# area: 0.227 a km of street gives Westminster's 80 on its 352 km (every street once),
# and a force of 10,000 km some 2,300.
HOTSPOT_CANDIDATES = 0
HOTSPOT_CANDIDATES_PER_KM = 0.227
HOTSPOT_MIN_SEPARATION_M = 150.0
# Hotspot model (see docs/hotspots.md). Streets are cut into pieces of at most
# this length; risk spreads from each incident along the streets (network
# distance, quartic kernel) to this bandwidth; and a piece's score mixes its own
# history (police.uk points recur at the same map point) with the network kernel
# density around it, the kernel taking this share. A small share: on police.uk
# data (crimes snapped to fixed map points) a piece's own history predicts best,
# and back-tests on 2018-01..03 lost 3-17% PAI at shares 0.25-0.5 (docs/hotspots.md).
STREET_PIECE_M = 50.0
KDE_BANDWIDTH_M = 250.0
KDE_SHARE = 0.1
# A level-6 tension assessment raises every street it covers by the score at the
# top 5% of street length; lower levels pro rata (level / 6).
TENSION_GAIN = 1.0
# Time-of-day and day-of-week profiles are shrunk towards flat as if this many
# incidents had been seen spread evenly: a handful of timed records is not a pattern.
PROFILE_PRIOR_INCIDENTS = 10.0
# Protective visits to one site keep at least this many hours apart.
MIN_VISIT_GAP_H = 4.0
# Hotspot dosage over a day: the k-th visit to the same hotspot on one day is
# worth REPEAT_VALUE ** (k - 1) of the first, and there are at most DAILY_CAP.
# Patrol time then spreads over hotspots in proportion to harm instead of piling
# onto the top corner (Koper: short, repeated, unpredictable stops).
HOTSPOT_REPEAT_VALUE = 0.5
HOTSPOT_DAILY_CAP = 2
# A hotspot visit is offered only while its dosage-adjusted worth is at least
# this share of the week's top hotspot prize. Spreading patrols thinly over cool
# streets dilutes the dose: the evidence is for concentrating on the few
# hottest places; time not worth spending stays in the reserve for calls.
HOTSPOT_MIN_SHARE = 0.15
# Solver time per shift (seconds).
TIME_LIMIT_S = 3.0
# The longest leg between two patrol stops (minutes), by car and on foot. Patrols
# keep to their patch between stops (the reserve must answer calls there); a car
# crossing a force for its next stop is not a patrol. Bounding the legs bounds the
# search behind every row of the week's travel times, so computing them grows with
# the area rather than with its square. Legs from and to a station are never bounded.
# At 20 minutes by car a joined 9-borough test area left 16 of 1,224 visits unserved
# (units could not chain visits across their patch); at 60, 4, for 2.1x the search.
MAX_LEG_CAR_MIN = 60.0
MAX_LEG_FOOT_MIN = 60.0
# A shift with more units on duty than this is planned as districts of at most this
# many units (stations split by their spread; each place to the station nearest it),
# each district solved on its own. Solver time per problem is the time limit for up
# to REFERENCE_UNITS units and grows in proportion beyond: a force's 30 units a shift
# then cost a few problems of a borough's size, not one thousands of points wide.
DISTRICT_UNITS = 12
REFERENCE_UNITS = 4

# Shift templates in Europe/London local time: name -> (start, end). An end at
# or before the start means the shift ends the next day.
SHIFTS: dict[str, tuple[time, time]] = {
    "early": (time(7, 0), time(15, 0)),
    "late": (time(15, 0), time(23, 0)),
    "night": (time(23, 0), time(7, 0)),
}
TIMEZONE = "Europe/London"

# Protective visits per week by tier (1 = highest risk): tier 1 twice a day,
# tier 2 once a day, tier 3 three times a week.
VISITS_PER_WEEK_BY_TIER: dict[int, int] = {1: 14, 2: 7, 3: 3}

# Default visiting windows by site kind, local time (start, end); None = any time.
# Homes from the evening through the night, when the household is in; offices in
# office hours; surgery venues in the day (or as their events say).
SITE_WINDOWS: dict[str, tuple[time, time] | None] = {
    "home": (time(17, 0), time(7, 0)),
    "office": (time(8, 0), time(19, 0)),
    "surgery": (time(9, 0), time(18, 0)),
    "other": None,
}

# Escalation: a planned protest (or any event of level 4 or more) this close to a
# protected site raises the site's protection while it lasts, whatever its tier.
# 300 m is twice the 150 m "buffer zone" the Public Order Act 2023 (s. 9) draws
# around abortion clinics: a crowd kept from a door gathers at the street's end,
# and from 300 m a march is at the door in about four minutes. The watch starts an
# hour before the advertised start (crowds gather early) and ends an hour after
# (dispersal is when doors are knocked on); through it a unit calls at least
# every 2 hours (the default). A planned event at the site itself is
# matched within 150 m (demand.EVENT_SITE_RADIUS_M), the same buffer.
ESCALATION_RADIUS_M = 300.0
ESCALATION_EVERY_H = 2.0
ESCALATION_MARGIN_H = 1.0
ESCALATION_MIN_LEVEL = 4
ESCALATION_KINDS: tuple[str, ...] = ("protest",)
# Each escalation visit's service window is at least this wide either side of its
# target (minutes): the visits are then spaced so that, wherever each falls in its
# window, no gap exceeds ESCALATION_EVERY_H.
ESCALATION_SLACK_MIN = 15.0

# Harm weight per incident category: a category-level proxy of the Cambridge
# Crime Harm Index (days of imprisonment at the sentencing starting point for a
# typical first offence in the category, England and Wales Sentencing Council
# guidelines; a fine or community order counts as 1-2 days). police.uk
# categories are coarse, so each figure stands for the typical offence of the
# category, not its worst. Anti-social behaviour is not a crime and carries a
# token weight so that nuisance hot streets still register. See
# docs/harm-weights.md.
HARM_WEIGHTS: dict[str, float] = {
    "anti-social-behaviour": 0.5,
    "bicycle-theft": 2.0,
    "burglary": 60.0,
    "criminal-damage-arson": 10.0,
    "drugs": 5.0,
    "other-theft": 2.0,
    "possession-of-weapons": 90.0,
    "public-order": 10.0,
    "robbery": 365.0,
    "shoplifting": 1.0,
    "theft-from-the-person": 10.0,
    "vehicle-crime": 5.0,
    "violent-crime": 40.0,
    "other-crime": 5.0,
}
DEFAULT_HARM_WEIGHT = 5.0

# Recency half-life per category (days). Near-repeat risk is highest in the
# first week and fades over one to two months; property crime repeats fastest.
HALF_LIFE_DAYS: dict[str, float] = {
    "burglary": 30.0,
    "vehicle-crime": 30.0,
    "bicycle-theft": 45.0,
    "robbery": 45.0,
    "theft-from-the-person": 45.0,
}
DEFAULT_HALF_LIFE_DAYS = 60.0

# What counts as a delivered visit, measured from AVL/GPS pings (``patrols delivered``; ``[delivered]``
# in area.toml). No open standard defines a visit; these follow the field trials that measured one.
# Radius around a hotspot stop: Peterborough's PCSO trial counted a unit within 150 m of a hotspot
# (a ping a minute); Birmingham's geofences were 150 x 150 m.
DELIVERED_HOTSPOT_RADIUS_M = 150.0
# Radius around a protective stop: an address, not a street's length; the stop stands at the kerb of
# the nearest street, within ``MAX_SNAP_M`` of the site.
DELIVERED_SITE_RADIUS_M = 100.0
# Presence that counts as a dose at a hotspot: 12 minutes, inside Koper's best band of 11-15 (about 10
# beats a drive-by; the plan asks for 15). Walking in and out of a 150 m circle on winding streets adds
# up to 4-5 minutes to a visit cut to a third (5 minutes), which must not count.
DELIVERED_HOTSPOT_DOSE_MIN = 12.0
# ... and as a protective visit: seven of the default 10 minutes. Walking up to the door and away adds
# about 2.5 minutes inside 100 m (3 at a ping every 30 s), so a visit cut to a third (3.3 minutes)
# must not count.
DELIVERED_PROTECTIVE_DOSE_MIN = 7.0
# Less than this inside the radius is a unit passing, not a visit (ShotSpotter's timer starts on
# entry to its box; a car crossing a 300 m circle at 30 km/h is in it for 36 s).
DELIVERED_PASS_BY_MIN = 2.0
# First seen more than this after the planned arrival: late.
DELIVERED_LATE_MIN = 15.0
# Presence is looked for from this long before the planned arrival to this long after the planned
# departure (never past the unit's stops before and after).
DELIVERED_SEARCH_MIN = 60.0
# Gaps between pings up to this are bridged (the slowest AVL rate taken, 15 minutes, with slack);
# a longer gap is ``no_data``, never ``missed``.
DELIVERED_MAX_GAP_MIN = 20.0
# Next week's prize of an under-dosed hotspot is multiplied by 1 + this x the share of its planned
# patrol minutes not delivered (``patrols plan --delivered``): up to 1.5x for one not patrolled at all,
# a nudge that brings the week's neglected streets forward without outranking the clearly hotter ones
# (hotspot prizes span several-fold across the week's points).
DELIVERED_UNDERDOSE_GAIN = 0.5

# Hotspot focus (``[hotspots]`` in area.toml; docs/hotspots.md). The surface for community
# patrols counts the categories that mark community tension: public order, violence and
# sexual offences, criminal damage and arson, anti-social behaviour (the list; the
# police.uk slugs). Theft, shoplifting, burglary and the rest do not raise it. Within these
# categories incidents are weighted by harm (HARM_WEIGHTS).
HOTSPOT_CATEGORIES: tuple[str, ...] = (
    "public-order", "violent-crime", "criminal-damage-arson", "anti-social-behaviour")
# The street count the model falls back to, or blends with: the last 12 calendar months'
# incidents per metre of street, each older quarter counting half the one after (the
# back-test's ``months12_halved`` baseline; the month of the as-of date counts as the last).
STREET_COUNT_MONTHS = 12
STREET_COUNT_HALVING_MONTHS = 3
# The street count's share of the surface is chosen from these by the area's own back-test:
# each of the last whole months before the as-of date predicted from the months before it,
# scored by the incidents caught on the top 5% of street length (the share the back-test's
# target is set at). 0 = the harm-weighted model alone, 1 = the street count alone.
HOTSPOT_BLEND_CHOICES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
HOTSPOT_BLEND_MONTHS = 3
HOTSPOT_BLEND_COVERAGE = 0.05
# The model must catch this share more than the street count over those months before it
# takes any of the surface: the same variant moves 2-3% between months on police.uk data, and
# the surface must never be worse than counting. With no month to judge by, the count alone.
HOTSPOT_BLEND_MARGIN = 0.005
HOTSPOT_BLEND_FALLBACK = 1.0
