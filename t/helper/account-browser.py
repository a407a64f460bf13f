#!/usr/bin/python3
"""account-browser.py: drives elp-auth's account page in headless
Chromium (Debian's chromium, chromium-driver and python3-selenium), as a
user would: open the page, get sent to the login form, log in, change the
names, list the sessions, sign out of another one, change the password.
Each step prints "ok STEP" or stops with "FAIL STEP: why" (exit 1). At
the end prints "cookie <value of ELP_SESSION>" for the caller's curl
checks.

usage: account-browser.py ISSUER USER PASSWORD NEWPASSWORD
"""
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (StaleElementReferenceException,
                                        WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

iss, user, pw, newpw = sys.argv[1:5]
step = "start"


def fail(why):
    print("FAIL %s: %s" % (step, why), flush=True)
    try:
        print(drv.page_source[:2000], file=sys.stderr)
    except Exception:
        pass
    drv.quit()
    sys.exit(1)


def check(cond, why):
    if not cond:
        fail(why)


def ok():
    print("ok", step, flush=True)


def wait(cond):
    WebDriverWait(drv, 15).until(cond)


def submit(form):
    """Posts <form> and waits until the page it was on is gone, so that
    what is looked up next is on the answer, not on the old page (the
    notes of the last answer would match at once)."""
    old = drv.find_element(By.TAG_NAME, "html")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(lambda d: gone(old))


def gone(el):
    """Whether <el> has left the document. chromedriver reports a node
    caught while it is being detached as an inspector error, not as a
    stale element: both mean the old page is going."""
    try:
        el.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if "does not belong to the document" in str(e):
            return True
        raise


def rows():
    return drv.find_elements(By.CSS_SELECTOR, "table tbody tr")


opt = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
          "--disable-dev-shm-usage", "--no-first-run",
          "--disable-extensions", "--password-store=basic"):
    opt.add_argument(a)
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opt)
drv.set_page_load_timeout(20)
try:
    step = "login-redirect"
    drv.get(iss + "/account")
    check(drv.title == "Login to ELP", "title %r" % drv.title)
    check("client_id=account-console" in drv.current_url, drv.current_url)
    ok()

    step = "login"
    drv.find_element(By.ID, "username").send_keys(user)
    drv.find_element(By.ID, "password").send_keys(pw)
    submit(drv.find_element(By.TAG_NAME, "form"))
    wait(EC.title_is("Your account"))
    check(drv.current_url == iss + "/account", drv.current_url)
    check(user in drv.find_element(By.TAG_NAME, "main").text, "no user")
    ok()

    step = "names"
    for fid, v in (("firstName", "Caroline"), ("lastName", "Doe-Smith")):
        e = drv.find_element(By.ID, fid)
        e.clear()
        e.send_keys(v)
    submit(drv.find_element(By.ID, "firstName").find_element(
        By.XPATH, "ancestor::form"))
    wait(EC.presence_of_element_located((By.CSS_SELECTOR, "p.ok")))
    check("personal info was saved" in drv.find_element(
        By.CSS_SELECTOR, "p.ok").text, "no note")
    check(drv.find_element(By.ID, "firstName").get_attribute("value") ==
          "Caroline", "first name not shown")
    check(drv.find_element(By.ID, "lastName").get_attribute("value") ==
          "Doe-Smith", "last name not shown")
    ok()

    step = "sessions"
    r = rows()
    check(len(r) == 2, "%d sessions listed" % len(r))
    mine = [x for x in r if "This session" in x.text]
    other = [x for x in r if "This session" not in x.text]
    check(len(mine) == 1 and len(other) == 1, "no current/other split")
    check("account-console" in mine[0].text, "client of this session: %r"
          % mine[0].text)
    check("admin-cli" in other[0].text, "client of the other: %r"
          % other[0].text)
    check("127.0.0.1" in other[0].text, "address: %r" % other[0].text)
    check("UTC" in other[0].text, "times: %r" % other[0].text)
    ok()

    step = "signout-other"
    submit(other[0].find_element(By.TAG_NAME, "form"))
    wait(EC.presence_of_element_located((By.CSS_SELECTOR, "p.ok")))
    check("session was signed out" in drv.find_element(
        By.CSS_SELECTOR, "p.ok").text, "no note")
    r = rows()
    check(len(r) == 1 and "This session" in r[0].text,
          "%d sessions left" % len(r))
    ok()

    step = "password-wrong"
    drv.find_element(By.ID, "password").send_keys("Wr0ng#password")
    drv.find_element(By.ID, "password-new").send_keys(newpw)
    drv.find_element(By.ID, "password-confirm").send_keys(newpw)
    submit(drv.find_element(By.ID, "password").find_element(
        By.XPATH, "ancestor::form"))
    wait(EC.presence_of_element_located((By.CSS_SELECTOR, "p.error")))
    check("current password is not correct" in drv.find_element(
        By.CSS_SELECTOR, "p.error").text, "no error")
    ok()

    step = "password"
    drv.find_element(By.ID, "password").send_keys(pw)
    drv.find_element(By.ID, "password-new").send_keys(newpw)
    drv.find_element(By.ID, "password-confirm").send_keys(newpw)
    submit(drv.find_element(By.ID, "password").find_element(
        By.XPATH, "ancestor::form"))
    wait(EC.presence_of_element_located((By.CSS_SELECTOR, "p.ok")))
    check("password was changed" in drv.find_element(
        By.CSS_SELECTOR, "p.ok").text, "no note")
    check(len(rows()) == 1, "this session was signed out")
    ok()

    c = drv.get_cookie("ELP_SESSION")
    check(c is not None and c.get("httpOnly"), "no HttpOnly session cookie")
    print("cookie", c["value"], flush=True)
finally:
    drv.quit()
