"""The fixed texts. Each is defined once here and used by every interface."""

DISCLAIMER = (
    "This information is quoted from the clinic's documents for general education only. "
    "It is not medical advice, diagnosis or treatment. Talk to your doctor or pharmacist "
    "before starting, stopping or changing any supplement, infusion or medicine."
)

NO_ANSWER_NOTICE = (
    "Our documents do not answer this question. Please ask your doctor, pharmacist or "
    "the clinic's staff."
)

EMERGENCY_NOTICE = (
    "This may be a medical emergency. Call your local emergency number now "
    "(911 in the US, 999 in the UK, 112 in the EU, 000 in Australia) or go to the nearest "
    "emergency department. If you are thinking about suicide or self-harm, call or text 988 "
    "in the US, or your local crisis line. Do not wait for an online answer."
)
