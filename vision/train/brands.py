"""The brand lists used by the benchmarks and by training: which simplepycons logos, their wordmarks, and the
fixed split into brands a model may be trained on ("train") and brands kept for evaluation only ("eval").

Split rule (documented in the README): the sorted list of BRANDS, every third brand (index % 3 == 1) is "eval".
The other simplepycons icons (not in BRANDS) are split too: every fourth of their sorted list (index % 4 == 0) is
"unregistered material" that the benchmarks print as logos of brands nobody registered and that no training ever
sees; the rest may be used for training, next to the train brands.
"""

from __future__ import annotations

__all__ = ["split", "icon_pool"]

BRANDS = sorted("""
nike adidas newbalance puma samsung sony huawei apple reebok underarmour fila jordan thenorthface lg xiaomi lenovo
dell intel bosch nikon redbull starbucks dior garmin hp amd nvidia siemens bmw audi ford toyota honda volkswagen
ferrari porsche cocacola mcdonalds ikea playstation razer hermes zara uniqlo beats bose jbl sennheiser fitbit
oneplus oppo vivo motorola nokia asus acer msi tesla shell visa mastercard paypal ebay google spotify netflix airbnb
uber lyft twitch discord dropbox github gitlab atlassian autodesk ubisoft sega fujifilm panasonic toshiba hitachi
suzuki mazda subaru nissan kia hyundai peugeot renault citroen fiat volvo scania iveco jeep chevrolet cadillac opel
skoda seat mini rollsroyce bentley lamborghini maserati astonmartin mclaren bugatti
""".split())

# Text of the logos that are (or contain) a wordmark, as the brand would register it.
WORDMARKS = {
    "samsung": "SAMSUNG", "sony": "SONY", "fila": "FILA", "lg": "LG", "lenovo": "Lenovo", "dell": "DELL",
    "intel": "intel", "nikon": "Nikon", "dior": "DIOR", "garmin": "GARMIN", "thenorthface": "THE NORTH FACE",
    "amd": "AMD", "siemens": "SIEMENS", "ford": "Ford", "ikea": "IKEA", "zara": "ZARA", "uniqlo": "UNIQLO",
    "bose": "BOSE", "jbl": "JBL", "oppo": "oppo", "vivo": "vivo", "nokia": "NOKIA", "asus": "ASUS", "acer": "acer",
    "visa": "VISA", "ebay": "ebay", "uber": "Uber", "lyft": "lyft", "fujifilm": "FUJIFILM", "panasonic": "Panasonic",
    "toshiba": "TOSHIBA", "hitachi": "HITACHI", "nissan": "NISSAN", "kia": "KIA", "fiat": "FIAT", "volvo": "VOLVO",
    "iveco": "IVECO", "jeep": "Jeep", "mini": "MINI", "mclaren": "McLaren",
}


def split(slug: str) -> str:
    """"train" or "eval" for a brand of BRANDS (anything else is "unregistered" material)."""
    if slug not in BRANDS:
        return "other"
    return "eval" if BRANDS.index(slug) % 3 == 1 else "train"


TRAIN_BRANDS = [b for b in BRANDS if split(b) == "train"]
EVAL_BRANDS = [b for b in BRANDS if split(b) == "eval"]


def icon_pool(available: list[str]) -> tuple[list[str], list[str]]:
    """Split the simplepycons icons that are not in BRANDS into (trainable, held out), by the rule above."""
    rest = sorted(set(available) - set(BRANDS))
    return [s for i, s in enumerate(rest) if i % 4], [s for i, s in enumerate(rest) if i % 4 == 0]
