"""Built-in texts: the start-up precision check, warm-up lengths and the API examples."""

SHORT = [
    "A wonderful film with a moving story and superb acting.",
    "Dull, predictable and far too long. I want my two hours back.",
    "Not bad at all.",
    "The cast is great but the script lets them down.",
]

MEDIUM = [
    "I went in expecting very little from this sequel, and for the first half hour my low "
    "expectations were met: the dialogue is clumsy and the villain is a cardboard cut-out. But "
    "the second act finds its feet. The chase through the flooded subway is the best set piece "
    "of the year, the score swells at just the right moments, and the lead finally gets a scene "
    "that lets her act rather than run. Flawed, uneven, and still worth seeing on a big screen.",
    "There is nothing here that you have not seen done better elsewhere. The jokes land with a "
    "thud, the romance has no spark, and the twist is visible from the opening credits. The "
    "director seems to have confused loud with exciting and long with epic. Even the usually "
    "reliable supporting cast look bored. Skip it.<br /><br />2/10",
]

# About 800 tokens: a review at the truncation limit, for warm-up and the precision check.
LONG = [" ".join([MEDIUM[0]] * 9), " ".join([MEDIUM[1]] * 9)]

ALL = SHORT + MEDIUM + LONG
