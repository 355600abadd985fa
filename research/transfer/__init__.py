"""Transfer study: does a network trained on ESC-50 transfer to off-domain few-shot tasks?"""
