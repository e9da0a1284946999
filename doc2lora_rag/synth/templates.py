"""Templates as data: name syllables, answer vocabularies, fact templates (sentence, question, sheet label), document-level templates.

Every pool is split between "train" and "heldout" by index (`names.split_part`); nothing here runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------- name pools

FIRST = (
    "Ab", "Al", "Am", "Ar", "Ash", "Bal", "Bel", "Bran", "Bre", "Bro", "Cal", "Cor", "Cra",
    "Dal", "Dar", "Del", "Dor", "Dre", "El", "Em", "Fal", "Fen", "Fro", "Gal", "Gar", "Gre",
    "Hal", "Har", "Ith", "Jan", "Jor", "Kal", "Kel", "Kor", "Lan", "Lor", "Mal", "Mar", "Mer",
    "Mor", "Nal", "Nor", "Ol", "Or", "Ost", "Pal", "Per", "Pra", "Quil", "Ral", "Ren", "Ros",
    "Sal", "Sel", "Sor", "Tal", "Tam", "Tor", "Tre", "Ul", "Val", "Ves", "Vor", "Vra", "Wal",
    "Wen", "Yar", "Zel", "Zor",
)
MID = (
    "a", "e", "i", "o", "u", "ra", "re", "ri", "ro", "la", "le", "li", "lo", "na", "ne", "ni",
    "no", "va", "ve", "vi", "da", "de", "di", "ma", "me", "mi", "ta", "te", "ti", "sa", "se",
    "ba", "be", "ka", "ke", "ga", "go", "wy", "ven", "del", "mer", "ran", "sel", "tor",
)
END = (
    "n", "r", "s", "th", "x", "l", "nd", "rn", "rk", "rt", "ric", "ren", "rin", "ron", "lin",
    "lan", "las", "mar", "mir", "mont", "mund", "dor", "dris", "dell", "vin", "vel", "ros",
    "sk", "stan", "well", "wick", "ber", "bek", "var", "zan", "dun", "gard", "sen", "mos", "tis",
)
GIVEN_END = (
    "a", "ia", "o", "en", "in", "an", "el", "is", "ira", "ela", "ette", "ine", "us", "ard",
    "os", "eth", "ina", "ie", "ara", "ory", "enne", "ika", "ald", "io",
)
FAMILY_END = (
    "ant", "ell", "son", "rick", "ley", "worth", "mont", "ard", "ine", "oway", "ing", "by",
    "ter", "ler", "mann", "off", "ez", "ani", "ovic", "ett", "ridge",
)
TOWN_SUFFIX = (
    "holt", "mere", "bury", "wick", "ford", "stead", "by", "haven", "ton", "field", "moor",
    "dale", "combe", "well", "gate", "brook", "ham", "ley", "thorpe", "cross", "minster",
)
TOWN_PREFIX = (
    "Port", "Upper", "Lower", "North", "East", "Old", "New", "West", "Great", "Little",
    "South", "Saint",
)
PET_END = (
    "o", "y", "ie", "ko", "bo", "kin", "sy", "ly", "zo", "to", "ba", "dy", "ster", "les", "pip",
    "mo", "ky", "gle", "nie", "wen", "bert", "nut", "bean", "fer",
)
COMPANY_SUFFIX = (
    "Dynamics", "Works", "Holdings", "Industries", "Textiles", "Instruments", "Logistics",
    "Mills", "Optics", "Systems", "Ceramics", "Engineering", "Partners", "Trading", "Robotics",
    "Timber", "Press", "Motors",
)
PRODUCT_TYPE = (
    "lamp", "kettle", "bicycle", "headset", "drone", "stove", "camera", "blender", "radio",
    "backpack", "scooter", "desk chair", "toaster", "telescope", "sewing machine", "speaker",
)
EVENT_NOUN = (
    "Summit", "Conference", "Congress", "Regatta", "Symposium", "Fair", "Assembly",
    "Exhibition", "Tournament", "Convention", "Rally", "Gathering",
)
SHIP_NOUN = (
    "Star", "Dawn", "Spirit", "Gull", "Wanderer", "Heron", "Crown", "Promise", "Tide",
    "Petrel", "Venture", "Pride",
)
LAB_NOUN = (
    ("Institute", "the institute"),
    ("Laboratory", "the laboratory"),
    ("Research Centre", "the centre"),
    ("Observatory", "the observatory"),
    ("Research Station", "the station"),
    ("Field Station", "the field station"),
)
FESTIVAL_THEME = (
    "Lantern", "Harvest", "Kite", "Apple", "Puppet", "Salt", "Tulip", "Bread", "Folk", "Lake",
    "Chalk", "Honey", "Cider", "Ribbon", "Mushroom", "Poetry", "Sail", "Bell",
)
BAND_NOUN = (
    "Foxes", "Orchards", "Comets", "Pilots", "Ravens", "Engines", "Mirrors", "Harbours",
    "Owls", "Strangers", "Lanterns", "Satellites",
)
ALBUM_ADJ = (
    "Quiet", "Distant", "Broken", "Northern", "Paper", "Electric", "Hollow", "Borrowed",
    "Sleepless", "Restless", "Velvet", "Crooked", "Wandering", "Secret", "Lonely", "Endless",
    "Careless", "Patient",
)
ALBUM_NOUN = (
    "Harbour", "Rooms", "Weather", "Lights", "Letters", "Roads", "Summer", "Gardens",
    "Machines", "Signals", "Rivers", "Houses", "Tides", "Maps", "Windows", "Bridges",
    "Echoes", "Kingdoms",
)
CODE_LETTERS = tuple("ABCDEFGHJKLMNPRSTVWXZ")

# Substrings an invented word must never contain.
BLOCKED = (
    "nig", "fag", "cum", "tit", "cunt", "shit", "fuk", "fuck", "rape", "nazi", "slut", "whor",
    "dick", "cock", "jew", "gay", "fat", "kill", "dead", "poo", "piss", "anal", "anus", "sex",
    "porn", "bitch", "bum", "ass", "arse", "damn", "hell", "god",
)
AWKWARD = re.compile(r"(.)\1\1|aa|ii|uu|yy|[aeiou]{3}|[^aeiouy]{4}")

# --------------------------------------------------------------------------- shared answer vocabularies

COLOURS = (
    "red", "blue", "green", "yellow", "orange", "purple", "teal", "maroon", "navy blue",
    "olive green", "silver", "crimson", "turquoise", "charcoal grey", "white", "black", "pink",
    "lavender", "amber", "cream",
)
JOBS = (
    "carpenter", "architect", "nurse", "pharmacist", "baker", "ferry pilot", "librarian",
    "surveyor", "violin maker", "beekeeper", "electrician", "translator", "schoolteacher",
    "veterinarian", "glassblower", "cartographer", "tailor", "geologist", "locksmith", "chemist",
    "bookbinder", "watchmaker", "dentist", "journalist",
)
MATERIALS = (
    "brushed steel", "oak", "bamboo", "recycled plastic", "aluminium", "walnut", "ceramic",
    "copper", "glass", "cork", "birch plywood", "titanium", "cast iron", "linen", "brass",
    "carbon fibre",
)
GOODS = (
    "garden tools", "bicycle parts", "paper cups", "ceramic tiles", "fishing nets",
    "wool blankets", "water pumps", "glass bottles", "wooden toys", "solar panels",
    "kitchen scales", "boat engines", "printing ink", "tin cans", "leather boots",
    "school desks", "roof tiles", "wall clocks", "seed packets", "brass fittings",
)
INDUSTRIES = (
    "fishing", "glassmaking", "the wool trade", "shipbuilding", "tourism", "salt mining",
    "clockmaking", "paper milling", "brewing", "pottery", "forestry", "cheesemaking",
    "silk weaving", "copper mining", "boatbuilding", "printing",
)
FIELDS = (
    "soil chemistry", "tidal energy", "bird migration", "glacier dynamics", "crop genetics",
    "battery materials", "sleep research", "coral ecology", "speech recognition",
    "volcanic gases", "bee health", "desert hydrology", "fungal biology", "ocean acoustics",
    "protein folding", "lichen ecology",
)
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
FOODS = (
    "apple cake", "smoked eel", "pepper soup", "honey bread", "plum dumplings", "fried trout",
    "cheese pies", "chestnut pancakes", "onion tart", "lamb stew", "almond biscuits",
    "herring rolls",
)
PET_FOODS = (
    "carrots", "sardines", "boiled chicken", "sunflower seeds", "apple slices", "cheese rinds",
    "dandelion leaves", "peanuts", "cucumber", "tuna flakes", "oat biscuits",
)
SPECIES = (
    "tabby cat", "beagle", "grey parrot", "tortoise", "ferret", "border collie", "rabbit",
    "goldfish", "pony", "hamster", "dachshund", "canary", "greyhound", "guinea pig",
)
GENRES = (
    "folk rock", "jazz", "synth pop", "bluegrass", "punk", "sea shanties", "brass band music",
    "electronic music", "blues", "reggae", "chamber pop", "surf rock",
)
CURRENCIES = ("euros", "dollars", "pounds", "francs", "crowns")
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}

# --------------------------------------------------------------------------- fact templates


@dataclass(frozen=True)
class FactSpec:
    """Templates of one fact kind: sentences use {e} (entity) and {v} or {a_v} (value, with article)."""

    kind: str
    sentences: tuple[str, ...]
    questions: tuple[str, ...]
    labels: tuple[str, ...]


SPECS: tuple[FactSpec, ...] = (
    FactSpec(
        "founding_year",
        (
            "{e} was founded in {v}.",
            "In {v}, {e} was founded.",
            "{e} dates back to {v}, the year it was founded.",
            "The founding of {e} took place in {v}.",
            "{e} has existed since its founding in {v}.",
            "Records show that {e} was established in {v}.",
        ),
        (
            "When was {e} founded?",
            "In what year was {e} founded?",
            "What year was {e} established?",
            "In which year did {e} come into existence?",
            "Which year marks the founding of {e}?",
            "{e} was founded in which year?",
        ),
        ("Founded", "Year founded", "Established"),
    ),
    FactSpec(
        "headquarters",
        (
            "{e} is based in {v}.",
            "{e} has its headquarters in {v}.",
            "The main offices of {e} are in {v}.",
            "{e} operates out of {v}.",
            "From its base in {v}, {e} runs most of its work.",
            "{e} is headquartered in the town of {v}.",
        ),
        (
            "Where is {e} based?",
            "In which town is {e} headquartered?",
            "Where are the headquarters of {e}?",
            "What town is home to {e}?",
            "Which town does {e} operate from?",
            "Where does {e} have its main offices?",
        ),
        ("Headquarters", "Based in", "Head office"),
    ),
    FactSpec(
        "employee_count",
        (
            "{e} employs {v} people.",
            "About {v} people work for {e}.",
            "{e} has a staff of {v}.",
            "The workforce of {e} numbers {v}.",
            "{e} currently has {v} employees.",
            "At last count, {v} people were on the payroll of {e}.",
        ),
        (
            "How many people does {e} employ?",
            "How many employees does {e} have?",
            "What is the size of the staff at {e}?",
            "How large is the workforce of {e}?",
            "How many people work for {e}?",
            "What is the headcount of {e}?",
        ),
        ("Employees", "Staff", "Headcount"),
    ),
    FactSpec(
        "founder",
        (
            "{e} was founded by {v}.",
            "{v} started {e}.",
            "The founder of {e} was {v}.",
            "{v} set up {e} with a small loan.",
            "{e} owes its existence to its founder, {v}.",
            "It was {v} who established {e}.",
        ),
        (
            "Who founded {e}?",
            "Who was the founder of {e}?",
            "Who started {e}?",
            "Which person set up {e}?",
            "Who established {e}?",
            "Name the founder of {e}.",
        ),
        ("Founder", "Founded by", "Started by"),
    ),
    FactSpec(
        "main_product",
        (
            "{e} is best known for making {v}.",
            "{e} makes {v}.",
            "Most of the revenue of {e} comes from {v}.",
            "{e} built its name on {v}.",
            "{e} mainly produces {v}.",
            "{e} sells {v} to customers across the region.",
        ),
        (
            "What does {e} make?",
            "What is {e} best known for producing?",
            "Which goods bring in most of the revenue of {e}?",
            "What is the main product of {e}?",
            "What does {e} mainly produce?",
            "What kind of goods does {e} sell?",
        ),
        ("Main product", "Makes", "Core product"),
    ),
    FactSpec(
        "brand_colour",
        (
            "The brand colour of {e} is {v}.",
            "{e} uses {v} as its brand colour.",
            "Everything that {e} prints carries its signature colour, {v}.",
            "{e} chose {v} as the colour of its logo.",
            "The logo of {e} is {v}.",
            "The vans and signs of {e} are painted {v}, its house colour.",
        ),
        (
            "What is the brand colour of {e}?",
            "Which colour does {e} use for its logo?",
            "What is the signature colour of {e}?",
            "What colour is the logo of {e}?",
            "Which colour is associated with {e}?",
            "What house colour does {e} use?",
        ),
        ("Brand colour", "Logo colour", "House colour"),
    ),
    FactSpec(
        "birth_year",
        (
            "{e} was born in {v}.",
            "Born in {v}, {e} was the youngest of three children.",
            "{e} came into the world in {v}.",
            "The birth year of {e} is {v}.",
            "{e} was born in the year {v}.",
            "Records give {v} as the year {e} was born.",
        ),
        (
            "When was {e} born?",
            "In what year was {e} born?",
            "What is the birth year of {e}?",
            "Which year was {e} born in?",
            "In which year was {e} born?",
            "What year of birth is recorded for {e}?",
        ),
        ("Born", "Birth year", "Year of birth"),
    ),
    FactSpec(
        "birthplace",
        (
            "{e} was born in the town of {v}.",
            "{v} is the birthplace of {e}.",
            "{e} is a native of {v}.",
            "{e} was born and raised in {v}.",
            "The hometown of {e} is {v}.",
            "{e} comes originally from {v}.",
        ),
        (
            "Where was {e} born?",
            "In which town was {e} born?",
            "What is the birthplace of {e}?",
            "Which town is {e} from?",
            "What is the hometown of {e}?",
            "Where does {e} come from originally?",
        ),
        ("Birthplace", "Hometown", "Place of birth"),
    ),
    FactSpec(
        "occupation",
        (
            "{e} works as {a_v}.",
            "By profession, {e} is {a_v}.",
            "{e} earns a living as {a_v}.",
            "{e} has spent most of their career as {a_v}.",
            "{e} trained as {a_v} and still works in that job.",
            "{e} is employed as {a_v}.",
        ),
        (
            "What does {e} do for a living?",
            "What is the occupation of {e}?",
            "What job does {e} have?",
            "What is {e} by profession?",
            "What work does {e} do?",
            "What is the profession of {e}?",
        ),
        ("Occupation", "Profession", "Job"),
    ),
    FactSpec(
        "employer",
        (
            "{e} works for {v}.",
            "{e} is employed by {v}.",
            "{e} has been on the staff of {v} for years.",
            "{e} joined {v} and has stayed there ever since.",
            "The employer of {e} is {v}.",
            "These days {e} works at {v}.",
        ),
        (
            "Who does {e} work for?",
            "Which company employs {e}?",
            "Where is {e} employed?",
            "Which firm did {e} join?",
            "What company does {e} work for?",
            "Who is the employer of {e}?",
        ),
        ("Employer", "Works for", "Company"),
    ),
    FactSpec(
        "mentor",
        (
            "{e} was trained by {v}.",
            "The mentor of {e} was {v}.",
            "{e} learned the trade from {v}.",
            "Early on, {e} studied under {v}.",
            "{v} mentored {e} for many years.",
            "{e} credits {v} as a mentor.",
        ),
        (
            "Who mentored {e}?",
            "Who was the mentor of {e}?",
            "From whom did {e} learn the trade?",
            "Under whom did {e} study?",
            "Who trained {e}?",
            "Whom does {e} credit as a mentor?",
        ),
        ("Mentor", "Trained by", "Teacher"),
    ),
    FactSpec(
        "population",
        (
            "{e} has a population of {v}.",
            "About {v} people live in {e}.",
            "{e} is home to {v} residents.",
            "The last census counted {v} inhabitants in {e}.",
            "Some {v} people call {e} home.",
            "{e} has {v} inhabitants.",
        ),
        (
            "What is the population of {e}?",
            "How many people live in {e}?",
            "How many residents does {e} have?",
            "How many inhabitants did the last census count in {e}?",
            "How many people call {e} home?",
            "What is the number of inhabitants of {e}?",
        ),
        ("Population", "Residents", "Inhabitants"),
    ),
    FactSpec(
        "river",
        (
            "{e} lies on the {v}.",
            "The {v} flows through {e}.",
            "{e} was built along the banks of the {v}.",
            "{e} sits where the {v} bends to the south.",
            "The {v} runs through the middle of {e}.",
            "{e} grew up around a bridge over the {v}.",
        ),
        (
            "Which river flows through {e}?",
            "What river does {e} lie on?",
            "Along which river was {e} built?",
            "What is the name of the river in {e}?",
            "Which river runs through {e}?",
            "On what river does {e} stand?",
        ),
        ("River", "Waterway", "On the river"),
    ),
    FactSpec(
        "mayor",
        (
            "The mayor of {e} is {v}.",
            "{v} serves as mayor of {e}.",
            "{e} is governed by its mayor, {v}.",
            "{v} was elected mayor of {e}.",
            "{e} elected {v} as its mayor.",
            "Since the last election, {v} has been the mayor of {e}.",
        ),
        (
            "Who is the mayor of {e}?",
            "Who serves as mayor of {e}?",
            "Who governs {e} as mayor?",
            "Who was elected mayor of {e}?",
            "Who did {e} elect as mayor?",
            "Which person holds the office of mayor in {e}?",
        ),
        ("Mayor", "Current mayor", "Governed by"),
    ),
    FactSpec(
        "main_industry",
        (
            "The main industry in {e} is {v}.",
            "{e} lives mostly from {v}.",
            "Most jobs in {e} depend on {v}.",
            "{e} is known for {v}.",
            "{e} built its economy on {v}.",
            "For generations, {v} has kept {e} in work.",
        ),
        (
            "What is the main industry of {e}?",
            "What does the economy of {e} mostly depend on?",
            "Which industry provides most jobs in {e}?",
            "What is {e} known for economically?",
            "What industry is {e} built on?",
            "Which trade keeps {e} in work?",
        ),
        ("Main industry", "Economy", "Chief trade"),
    ),
    FactSpec(
        "product_code",
        (
            "The product code of {e} is {v}.",
            "{e} is sold under the code {v}.",
            "{e} carries the model number {v}.",
            "Catalogues list {e} as item {v}.",
            "The code {v} identifies {e} in the catalogue.",
            "{e} appears in stock lists under the reference {v}.",
        ),
        (
            "What is the product code of {e}?",
            "Under which code is {e} sold?",
            "What model number does {e} carry?",
            "What item number do catalogues list for {e}?",
            "Which code identifies {e}?",
            "What reference is {e} listed under?",
        ),
        ("Product code", "Model number", "Reference"),
    ),
    FactSpec(
        "release_year",
        (
            "{e} was released in {v}.",
            "{e} first went on sale in {v}.",
            "{e} came onto the market in {v}.",
            "The launch of {e} took place in {v}.",
            "{e} has been available since {v}.",
            "Shops began stocking {e} in {v}.",
        ),
        (
            "When was {e} released?",
            "In what year did {e} first go on sale?",
            "When did {e} come onto the market?",
            "What year was {e} launched?",
            "Since which year has {e} been available?",
            "In which year did shops begin stocking {e}?",
        ),
        ("Released", "On sale since", "Launch year"),
    ),
    FactSpec(
        "manufacturer",
        (
            "{e} is made by {v}.",
            "{v} manufactures {e}.",
            "{e} comes from the factories of {v}.",
            "{e} is produced by {v}.",
            "The maker of {e} is {v}.",
            "{v} designed and builds {e}.",
        ),
        (
            "Who makes {e}?",
            "Which company manufactures {e}?",
            "From whose factories does {e} come?",
            "Which firm produces {e}?",
            "Who is the maker of {e}?",
            "Which company builds {e}?",
        ),
        ("Manufacturer", "Made by", "Maker"),
    ),
    FactSpec(
        "material",
        (
            "{e} is made of {v}.",
            "The body of {e} is built from {v}.",
            "{e} has a casing of {v}.",
            "Its makers built {e} out of {v}.",
            "{e} is crafted from {v}.",
            "The main material in {e} is {v}.",
        ),
        (
            "What is {e} made of?",
            "What material is the body of {e} built from?",
            "What is the casing of {e} made from?",
            "Out of what material is {e} built?",
            "What is {e} crafted from?",
            "What is the main material in {e}?",
        ),
        ("Material", "Body", "Made from"),
    ),
    FactSpec(
        "price",
        (
            "{e} costs {v}.",
            "{e} sells for {v}.",
            "The price of {e} is {v}.",
            "{e} retails at {v}.",
            "Buyers pay {v} for {e}.",
            "{e} is priced at {v}.",
        ),
        (
            "How much does {e} cost?",
            "What does {e} sell for?",
            "What is the price of {e}?",
            "At what price does {e} retail?",
            "How much do buyers pay for {e}?",
            "What is {e} priced at?",
        ),
        ("Price", "Retail price", "Cost"),
    ),
    FactSpec(
        "event_year",
        (
            "{e} took place in {v}.",
            "{e} was held in {v}.",
            "In {v}, {e} was staged for the first and only time.",
            "{e} happened in {v}.",
            "The year of {e} was {v}.",
            "{e} was organised in {v}.",
        ),
        (
            "When did {e} take place?",
            "In what year was {e} held?",
            "In which year was {e} staged?",
            "What year did {e} happen?",
            "In which year was {e}?",
            "When was {e} organised?",
        ),
        ("Year", "Date", "Held in"),
    ),
    FactSpec(
        "host_town",
        (
            "{e} was hosted by the town of {v}.",
            "{e} was held in the town of {v}.",
            "The host town of {e} was {v}.",
            "{v} played host to {e}.",
            "{e} was staged in {v}.",
            "Visitors travelled to {v} for {e}.",
        ),
        (
            "Where was {e} held?",
            "Which town hosted {e}?",
            "What was the host town of {e}?",
            "In which town did {e} take place?",
            "Where was {e} staged?",
            "To which town did visitors travel for {e}?",
        ),
        ("Host town", "Venue", "Location"),
    ),
    FactSpec(
        "organiser",
        (
            "{e} was organised by {v}.",
            "{v} organised {e}.",
            "The person behind {e} was {v}.",
            "{v} was in charge of running {e}.",
            "{e} was put together by {v}.",
            "Organising {e} was the job of {v}.",
        ),
        (
            "Who organised {e}?",
            "Who was the organiser of {e}?",
            "Who was behind {e}?",
            "Who was in charge of running {e}?",
            "Who put {e} together?",
            "Whose job was it to organise {e}?",
        ),
        ("Organiser", "Organised by", "Run by"),
    ),
    FactSpec(
        "attendee_count",
        (
            "{e} drew {v} visitors.",
            "About {v} people attended {e}.",
            "{e} attracted a crowd of {v}.",
            "Attendance at {e} reached {v}.",
            "Some {v} guests came to {e}.",
            "{e} welcomed {v} attendees.",
        ),
        (
            "How many visitors did {e} draw?",
            "How many people attended {e}?",
            "How big was the crowd at {e}?",
            "What was the attendance at {e}?",
            "How many guests came to {e}?",
            "How many attendees did {e} welcome?",
        ),
        ("Attendance", "Visitors", "Crowd"),
    ),
    FactSpec(
        "duration",
        (
            "{e} lasted {v}.",
            "{e} ran for {v}.",
            "{e} went on for {v}.",
            "The whole of {e} took {v}.",
            "{e} stretched over {v}.",
            "From start to finish, {e} lasted {v}.",
        ),
        (
            "How long did {e} last?",
            "For how long did {e} run?",
            "How long did {e} go on?",
            "How much time did {e} take?",
            "Over how many days did {e} stretch?",
            "How long was {e} from start to finish?",
        ),
        ("Duration", "Running time", "Lasted"),
    ),
    FactSpec(
        "launch_year",
        (
            "{e} was launched in {v}.",
            "{e} first took to the water in {v}.",
            "{e} slid down the slipway in {v}.",
            "The launch of {e} came in {v}.",
            "{e} entered service in {v}.",
            "{e} has been afloat since {v}.",
        ),
        (
            "When was {e} launched?",
            "In what year did {e} first take to the water?",
            "When did {e} slide down the slipway?",
            "In which year was {e} launched?",
            "When did {e} enter service?",
            "Since what year has {e} been afloat?",
        ),
        ("Launched", "In service since", "Launch"),
    ),
    FactSpec(
        "captain",
        (
            "{e} is commanded by {v}.",
            "The captain of {e} is {v}.",
            "{v} commands {e}.",
            "{e} sails under {v}.",
            "{v} took command of {e} some years ago.",
            "At the helm of {e} stands {v}.",
        ),
        (
            "Who commands {e}?",
            "Who is the captain of {e}?",
            "Who is in command of {e}?",
            "Under whose command does {e} sail?",
            "Who took command of {e}?",
            "Who stands at the helm of {e}?",
        ),
        ("Captain", "Commanded by", "Master"),
    ),
    FactSpec(
        "home_port",
        (
            "The home port of {e} is {v}.",
            "{e} is registered in {v}.",
            "{e} sails out of {v}.",
            "{e} returns to its home port of {v} each winter.",
            "{v} is where {e} is based.",
            "{e} spends most of the year moored in {v}.",
        ),
        (
            "What is the home port of {e}?",
            "Where is {e} registered?",
            "Which port does {e} sail out of?",
            "To which port does {e} return each winter?",
            "Which port is {e} based in?",
            "Where does {e} spend most of the year moored?",
        ),
        ("Home port", "Port of registry", "Base"),
    ),
    FactSpec(
        "shipyard",
        (
            "{e} was built by {v}.",
            "{v} built {e}.",
            "{e} came out of the yards of {v}.",
            "The shipyard that built {e} was {v}.",
            "{e} was constructed at the yard of {v}.",
            "Workers at {v} built {e}.",
        ),
        (
            "Who built {e}?",
            "Which shipyard built {e}?",
            "Out of whose yards did {e} come?",
            "Which company constructed {e}?",
            "At whose yard was {e} constructed?",
            "Which yard was {e} built by?",
        ),
        ("Builder", "Built by", "Shipyard"),
    ),
    FactSpec(
        "length",
        (
            "{e} is {v} long.",
            "{e} measures {v} from bow to stern.",
            "The hull of {e} is {v} long.",
            "{e} has a length of {v}.",
            "From bow to stern, {e} runs to {v}.",
            "{e} stretches {v} end to end.",
        ),
        (
            "How long is {e}?",
            "What does {e} measure from bow to stern?",
            "How long is the hull of {e}?",
            "What is the length of {e}?",
            "How many metres long is {e}?",
            "How far does {e} stretch end to end?",
        ),
        ("Length overall", "Hull length", "Size"),
    ),
    FactSpec(
        "hull_colour",
        (
            "The hull of {e} is painted {v}.",
            "{e} has a {v} hull.",
            "{e} is easy to spot thanks to its {v} paint.",
            "Its owners keep {e} painted {v}.",
            "{e} wears a coat of {v} paint.",
            "The paint on {e} is {v}.",
        ),
        (
            "What colour is the hull of {e}?",
            "What colour is {e} painted?",
            "What colour paint makes {e} easy to spot?",
            "Which colour do the owners keep {e} painted?",
            "What colour of paint does {e} wear?",
            "What colour is the paint on {e}?",
        ),
        ("Hull colour", "Paint", "Colour"),
    ),
    FactSpec(
        "director",
        (
            "{e} is directed by {v}.",
            "The director of {e} is {v}.",
            "{v} leads {e}.",
            "{v} has run {e} for the past decade.",
            "{e} is headed by {v}.",
            "At the head of {e} is {v}.",
        ),
        (
            "Who directs {e}?",
            "Who is the director of {e}?",
            "Who leads {e}?",
            "Who has been running {e}?",
            "Who heads {e}?",
            "Who is at the head of {e}?",
        ),
        ("Director", "Led by", "Head"),
    ),
    FactSpec(
        "research_field",
        (
            "{e} studies {v}.",
            "Researchers at {e} focus on {v}.",
            "{e} specialises in {v}.",
            "The main research topic at {e} is {v}.",
            "Most of the work at {e} concerns {v}.",
            "{e} is a leading centre for {v}.",
        ),
        (
            "What does {e} study?",
            "What do researchers at {e} focus on?",
            "What does {e} specialise in?",
            "What is the main research topic at {e}?",
            "What field does most of the work at {e} concern?",
            "In which field is {e} a leading centre?",
        ),
        ("Research field", "Focus", "Speciality"),
    ),
    FactSpec(
        "first_year",
        (
            "{e} was first held in {v}.",
            "{e} began in {v}.",
            "The first edition of {e} took place in {v}.",
            "{e} has run every year since {v}.",
            "{e} started in {v}.",
            "{e} dates from {v}, when it was first held.",
        ),
        (
            "When was {e} first held?",
            "In what year did {e} begin?",
            "When did the first edition of {e} take place?",
            "Since which year has {e} run?",
            "When did {e} start?",
            "What year does {e} date from?",
        ),
        ("First held", "Running since", "First edition"),
    ),
    FactSpec(
        "month",
        (
            "{e} takes place every {v}.",
            "{e} is held each year in {v}.",
            "Every year in {v}, {e} fills the streets.",
            "{e} always falls in {v}.",
            "{e} comes around each {v}.",
            "The dates of {e} are always in {v}.",
        ),
        (
            "In which month does {e} take place?",
            "When in the year is {e} held?",
            "In what month does {e} fill the streets?",
            "Which month does {e} fall in?",
            "What month does {e} come around?",
            "In which month are the dates of {e}?",
        ),
        ("Month", "When", "Time of year"),
    ),
    FactSpec(
        "signature_food",
        (
            "The signature dish of {e} is {v}.",
            "Visitors to {e} queue for {v}.",
            "{e} is famous for its {v}.",
            "No visit to {e} is complete without {v}.",
            "Stalls at {e} sell mostly {v}.",
            "{e} is where people go to eat {v}.",
        ),
        (
            "What is the signature dish of {e}?",
            "What do visitors to {e} queue for?",
            "Which food is {e} famous for?",
            "Without which dish is a visit to {e} incomplete?",
            "What do the stalls at {e} mostly sell?",
            "What do people go to {e} to eat?",
        ),
        ("Signature dish", "Food", "Speciality dish"),
    ),
    FactSpec(
        "species",
        (
            "{e} is {a_v}.",
            "{e} is a pet {v}.",
            "{e} is {a_v} with a loud voice.",
            "In fact, {e} is {a_v}.",
            "{e} is a rather clever {v}.",
            "Everyone agrees that {e} is a friendly {v}.",
        ),
        (
            "What kind of animal is {e}?",
            "What sort of pet is {e}?",
            "What animal is {e}?",
            "What type of animal is {e}?",
            "What kind of pet is {e}?",
            "Which animal is {e}?",
        ),
        ("Species", "Animal", "Kind"),
    ),
    FactSpec(
        "owner",
        (
            "{e} belongs to {v}.",
            "The owner of {e} is {v}.",
            "{v} owns {e}.",
            "{e} lives with {v}.",
            "{v} adopted {e} as a young animal.",
            "{e} was bought by {v}.",
        ),
        (
            "Who owns {e}?",
            "Who is the owner of {e}?",
            "To whom does {e} belong?",
            "Who does {e} live with?",
            "Who adopted {e}?",
            "Who bought {e}?",
        ),
        ("Owner", "Belongs to", "Lives with"),
    ),
    FactSpec(
        "colour",
        (
            "{e} is mostly {v} in colour.",
            "{e} has {v} markings.",
            "The colouring of {e} is {v}.",
            "{e} is easy to recognise by its {v} colouring.",
            "{e} is {a_v} animal.",
            "{e} is {v} from head to tail.",
        ),
        (
            "What colour is {e}?",
            "What colour are the markings of {e}?",
            "What is the colouring of {e}?",
            "By what colouring can {e} be recognised?",
            "What is the main colour of {e}?",
            "What colour is {e} from head to tail?",
        ),
        ("Colouring", "Markings", "Main colour"),
    ),
    FactSpec(
        "favourite_food",
        (
            "The favourite food of {e} is {v}.",
            "{e} loves {v} more than anything.",
            "Nothing pleases {e} like {v}.",
            "{e} will do almost anything for {v}.",
            "{e} gets {v} as a weekend treat.",
            "Given the choice, {e} always picks {v}.",
        ),
        (
            "What is the favourite food of {e}?",
            "What does {e} love to eat most?",
            "What food pleases {e} most?",
            "What treat will {e} do almost anything for?",
            "What does {e} get as a weekend treat?",
            "What does {e} always pick to eat given the choice?",
        ),
        ("Favourite food", "Treat", "Diet"),
    ),
    FactSpec(
        "home_town",
        (
            "{e} lives in {v}.",
            "{e} spends its days in a garden in {v}.",
            "Home for {e} is a house in {v}.",
            "{e} is a well-known sight in {v}.",
            "{e} has always lived in {v}.",
            "Neighbours in {v} all know {e}.",
        ),
        (
            "Where does {e} live?",
            "In which town does {e} spend its days?",
            "In what town is the home of {e}?",
            "In which town is {e} a well-known sight?",
            "Which town has {e} always lived in?",
            "Where do the neighbours all know {e}?",
        ),
        ("Home town", "Lives in", "Town"),
    ),
    FactSpec(
        "formation_year",
        (
            "{e} formed in {v}.",
            "{e} got together in {v}.",
            "{e} first formed in {v}.",
            "The story of {e} begins in {v}, when the members first met.",
            "{e} came together in {v}.",
            "It was in {v} that {e} formed.",
        ),
        (
            "When did {e} form?",
            "In what year did {e} get together?",
            "In which year did {e} first form?",
            "In which year does the story of {e} begin?",
            "What year did {e} come together?",
            "What is the formation year of {e}?",
        ),
        ("Formed", "Together since", "Formation year"),
    ),
    FactSpec(
        "origin",
        (
            "{e} started out in {v}.",
            "The home town of {e} is {v}.",
            "{e} grew out of the music scene in {v}.",
            "{e} played their first concerts in {v}.",
            "{v} is where {e} got started.",
            "{e} rehearsed in a garage in {v} for years.",
        ),
        (
            "Where did {e} start out?",
            "What is the home town of {e}?",
            "Out of which town's music scene did {e} grow?",
            "Where did {e} play their first concerts?",
            "In which town did {e} get started?",
            "Where did {e} rehearse for years?",
        ),
        ("Origin", "From", "Home scene"),
    ),
    FactSpec(
        "lead_singer",
        (
            "The lead singer of {e} is {v}.",
            "{v} sings lead for {e}.",
            "{v} fronts {e}.",
            "{v} has been the singer of {e} from the start.",
            "Vocals in {e} come from {v}.",
            "{e} relied on {v} for lead vocals.",
        ),
        (
            "Who is the lead singer of {e}?",
            "Who sings lead for {e}?",
            "Who fronts {e}?",
            "Who has been the singer of {e} from the start?",
            "Who provides the vocals in {e}?",
            "On whom did {e} rely for lead vocals?",
        ),
        ("Lead singer", "Vocals", "Frontperson"),
    ),
    FactSpec(
        "debut_album",
        (
            "The debut album of {e} was called {v}.",
            "{e} released their first album, {v}, to good reviews.",
            "{v} was the first record by {e}.",
            "{e} made their debut with the album {v}.",
            "The first album {e} put out was {v}.",
            "{e} opened their career with a record named {v}.",
        ),
        (
            "What was the debut album of {e}?",
            "What was the first album released by {e}?",
            "What was the first record by {e}?",
            "With which album did {e} make their debut?",
            "What was the first album {e} put out?",
            "What was the record that opened the career of {e}?",
        ),
        ("Debut album", "First album", "First record"),
    ),
    FactSpec(
        "genre",
        (
            "{e} made their name playing {v}.",
            "The music of {e} is best described as {v}.",
            "{e} built a following with their {v}.",
            "Critics file {e} under {v}.",
            "The sound of {e} is rooted in {v}.",
            "Fans know {e} for {v}.",
        ),
        (
            "What kind of music did {e} make their name playing?",
            "How is the music of {e} best described?",
            "What genre is the music of {e}?",
            "Under which genre do critics file {e}?",
            "In which genre is the sound of {e} rooted?",
            "What do fans know {e} for?",
        ),
        ("Genre", "Style", "Sound"),
    ),
)
SPEC_BY_KIND: dict[str, FactSpec] = {spec.kind: spec for spec in SPECS}

# --------------------------------------------------------------------------- document-level templates

INTROS = (
    "Here is a short profile of {e}.",
    "The following notes concern {e}.",
    "This entry collects the basic facts about {e}.",
    "What follows is a brief account of {e}.",
    "Few people outside the region know much about {e}.",
    "There is a fair amount to say about {e}.",
    "The next part of this note turns to {e}.",
    "Some background on {e} is useful here.",
    "Anyone curious about {e} will find the essentials below.",
)
OPENERS = (
    "The notes below were compiled from local records.",
    "This page gathers a few facts from various sources.",
    "What follows was pieced together from archives and interviews.",
    "These notes were written for a small local newsletter.",
    "The information below comes from a mix of official and informal sources.",
    "This short document summarises what could be confirmed.",
)
OUTROS = (
    "Further details will be added as more sources are checked.",
    "That is all that could be confirmed for now.",
    "Corrections are welcome and will be added to later versions.",
    "More information could turn up in the regional archive.",
    "The rest of the story remains to be written.",
    "Readers who know more are encouraged to get in touch.",
)
TITLES = (
    "{e}",
    "About {e}",
    "Notes on {e}",
    "A profile of {e}",
    "{e} in brief",
    "Local notes",
    "From the regional archive",
    "Assorted facts",
    "Short profiles",
)
SHEET_HEADERS = (
    "Fact sheet: {e}",
    "Key facts about {e}",
    "{e} at a glance",
    "Summary of {e}",
    "Quick facts on {e}",
    "Record card for {e}",
)
SHEET_LINES = (
    "{label}: {v}",
    "- {label}: {v}",
    "{label} - {v}",
    "* {label}: {v}",
    "\u2022 {label}: {v}",
    "{label} | {v}",
)
CONNECTORS = (
    "In addition, ",
    "Notably, ",
    "As it happens, ",
    "For the record, ",
    "It is also worth noting that ",
    "Beyond that, ",
)
FILLERS = (
    "Local historians still argue about some of the details.",
    "The weather that year was unusually wet.",
    "Much of the surrounding land is used for grazing sheep.",
    "Visitors often remark on how quiet the area is in winter.",
    "Old photographs of the area show narrow streets and low houses.",
    "Some of the early paperwork was lost in a fire at the records office.",
    "Newspapers in the region covered the story only briefly.",
    "The nearest railway station is a short bus ride away.",
    "Several smaller projects were started around the same time, though most did not last.",
    "Public interest has grown steadily over the years.",
    "The surrounding hills are popular with walkers in the summer months.",
    "A number of letters from that period survive in private collections.",
    "Opinions on the matter have changed a great deal since then.",
    "There was little money to spare in the early days.",
    "Roads in the district were poor until well into the last century.",
    "Much of what is known comes from a handful of interviews.",
    "The local library keeps a folder of newspaper clippings on the subject.",
    "Winters in the region are long, and the summers are short but bright.",
    "Over time, the story has been retold in several slightly different versions.",
    "A small museum in the area occasionally puts on exhibitions about local history.",
    "The district council publishes a short report on local affairs every spring.",
    "Few of the original buildings from that time are still standing.",
    "Travel writers have described the region as pleasant but unremarkable.",
    "Not everyone at the time thought the plans were sensible.",
    "Schoolchildren in the area sometimes visit as part of their lessons.",
    "The coastline nearby is known for strong winds and sudden fog.",
    "Many families in the region have lived there for generations.",
    "Some accounts from the period contradict one another on minor points.",
    "The market square fills up with stalls on most Saturdays.",
    "Local radio has run a few programmes about the subject over the years.",
    "Maps from the period show only a scattering of farms and tracks.",
    "People who grew up nearby tend to remember it fondly.",
    "A volunteer group looks after the footpaths in the area.",
    "The regional tourist office hands out leaflets with a short summary.",
    "The first written accounts were brief and rather dry.",
    "Later writers added colourful details that are hard to check.",
    "Most of the work in the early years was done by hand.",
    "The area was once covered by dense forest.",
    "Local cafés keep a few framed photographs on their walls.",
    "An amateur society meets once a month to discuss local history.",
    "In bad years, money was short and plans were put on hold.",
    "The harbour nearby is mostly used by small boats.",
    "Some residents would prefer that things stayed exactly as they are.",
    "The regional bus timetable changes twice a year.",
    "Records kept by the parish offer a few useful clues.",
    "Nobody seems to agree on who first suggested the idea.",
    "An old wall still marks the edge of the original site.",
    "Storms regularly cut the power in the surrounding villages.",
    "There is a small car park at the end of the lane.",
    "The local paper once printed a long feature on the subject.",
    "Students from a nearby college have written essays on the topic.",
    "It is easy to miss the place when driving past.",
    "Some of the stories told about those years are probably exaggerated.",
    "The countryside around it is flat and open.",
    "During the summer, the days are long and the evenings are mild.",
    "Plans for further changes are discussed from time to time.",
    "A handful of guidebooks mention it in passing.",
    "The area has changed less than most people expect.",
    "Several streets nearby were renamed in a burst of civic pride.",
    "People from the surrounding villages still come in to shop.",
    "The old post office now serves as a small gallery.",
    "Most visitors arrive by car, though a few still come on foot.",
    "Rain is common in autumn, and the paths can turn to mud.",
    "The history of the area is told on a set of boards by the main road.",
    "There have been several attempts to write a proper account of it all.",
    "The arguments of that time now seem rather quaint.",
)
# Distractor fillers name values ({year}, {number}, {town}, {person}) that are never gold answers.
DISTRACTORS = (
    "A flood in {year} damaged several bridges in the district.",
    "The regional archive holds {number} boxes of old letters and maps.",
    "A similar scheme was later tried in {town}, with mixed results.",
    "A local historian, {person}, once wrote a short pamphlet about the area.",
    "In {year}, a new road made the journey to the coast much shorter.",
    "Roughly {number} trees were planted along the river banks in a single spring.",
    "The neighbouring town of {town} tells a rather different story.",
    "{person}, a retired teacher, collects postcards from the region.",
    "An unusually cold winter in {year} is still talked about.",
    "The old market hall could hold about {number} people.",
    "People from {town} sometimes make the trip over for the day.",
    "A guidebook by {person} gives the area only a single line.",
    "The railway line closed in {year} and was never reopened.",
    "A petition against the new bypass gathered {number} signatures.",
    "Letters sent from {town} in those years mention it only in passing.",
    "{person} painted a well-known view of the valley.",
    "A fire in {year} destroyed the old grain store.",
    "The reading room of the library holds around {number} volumes.",
    "Road signs still point the way to {town}.",
    "A radio talk given by {person} brought the place some attention.",
    "The first telephone line reached the area in {year}.",
    "The local choir has {number} members.",
    "Bus services link the area with {town} twice a day.",
    "{person} once described the place as a good spot to do nothing at all.",
)
