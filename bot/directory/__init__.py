"""The directory of networks and services, and the country picker that features share."""
