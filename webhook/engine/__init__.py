"""The admission engine, pure: which policy applies, the placement plan, and AdmissionReview decide/encode."""
