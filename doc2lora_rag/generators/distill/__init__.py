"""The context-distillation generator: a few gradient steps per chunk, teacher = the base model with the chunk in the prompt.

  text_prompts.py  training prompts made from the chunk's own text
  generator.py     `DistillConfig`, `DistillGenerator`: teacher answers, student steps, `LoraWeights`
"""

from __future__ import annotations

from .generator import DistillConfig, DistillGenerator, FitReport, TeacherAnswer
from .text_prompts import FACTS_PROMPT, PROMPT_STYLES, SUMMARY_PROMPT, build_prompts, extract_entities, split_sentences

__all__ = ["FACTS_PROMPT", "PROMPT_STYLES", "SUMMARY_PROMPT", "DistillConfig", "DistillGenerator", "FitReport", "TeacherAnswer",
           "build_prompts", "extract_entities", "split_sentences"]
