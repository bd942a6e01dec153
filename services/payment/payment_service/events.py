"""The payment service publishes no events: the order service learns each outcome from its HTTP answer."""
