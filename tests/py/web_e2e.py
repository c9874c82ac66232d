"""End-to-end check of the web console in headless Chromium (Debian's
chromium + chromium-driver, driven by Debian's python3-selenium).

usage: web_e2e.py BASE_URL SCREENSHOT_DIR ATTACHMENT_FILE

The server already has: admin password admin-secret-1, accounts bob@web.test
(pw-bob), a message to bob full of XSS tricks, and one held message for bob.
Prints one line per step; exits non-zero at the first failure.
"""

import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

base, shots, attachment = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(shots, exist_ok=True)

opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--ignore-certificate-errors", "--window-size=1280,900", "--lang=en-US"]:
    opts.add_argument(a)
opts.binary_location = "/usr/bin/chromium"
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
# Waits retry through the moments a page is being replaced.
wait = WebDriverWait(driver, 20, ignored_exceptions=[NoSuchElementException, StaleElementReferenceException, WebDriverException])


def step(name):
    print("ok:", name, flush=True)


def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


def go(path):
    driver.get(base + path)


def login(user, password):
    go("/login")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    wait.until(lambda d: "/login" not in d.current_url)


def logout():
    driver.find_element(By.CSS_SELECTOR, "form[action^='/logout'] button").click()
    wait.until(lambda d: "/login" in d.current_url)


def text():
    # Read in one script call: the page may be replaced between finding
    # <body> and reading it, which WebDriver reports in several ways.
    try:
        return driver.execute_script("return document.body ? document.body.innerText : ''") or ""
    except WebDriverException:
        return ""


def click_to(locator, url_part):
    """Clicks something that navigates, and waits until the new page is there."""
    driver.find_element(*locator).click()
    wait.until(lambda d: url_part in d.current_url and d.execute_script("return document.readyState") == "complete")


def wait_listed(path, want):
    """Reloads `path` until `want` is on it (mail arrives through the queue)."""
    for _ in range(40):
        go(path)
        if want in text():
            return
        time.sleep(0.5)
    raise AssertionError("%r never appeared on %s:\n%s" % (want, path, text()))


def no_alert():
    try:
        driver.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


try:
    # 1. The administrator logs in and creates an account.
    login("admin", "admin-secret-1")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[data-stat=received_messages]").text not in ("", "–"))
    step("admin logged in; the dashboard shows live counters (%s received)" % driver.find_element(By.CSS_SELECTOR, "[data-stat=received_messages]").text)
    shot("en-dashboard")
    go("/admin/accounts")
    driver.find_element(By.ID, "new-address").send_keys("dave@web.test")
    driver.find_element(By.ID, "new-name").send_keys("Dave")
    driver.find_element(By.ID, "new-password").send_keys("dave-secret-1")
    driver.find_element(By.ID, "create-account").click()
    wait.until(ec.presence_of_element_located((By.ID, "created")))
    assert "dave@web.test" in driver.find_element(By.ID, "accounts").text
    step("admin created dave@web.test")
    shot("en-accounts")
    logout()

    # 2. Dave sends Bob a message with an attachment.
    login("dave@web.test", "dave-secret-1")
    assert "/mail" in driver.current_url
    shot("en-mail")
    click_to((By.ID, "compose"), "/mail/compose")
    driver.find_element(By.ID, "to").send_keys("bob@web.test")
    driver.find_element(By.ID, "subject").send_keys("Quarterly report")
    driver.find_element(By.ID, "body").send_keys("Hello Bob,\nthe report is attached.\nDave")
    driver.find_element(By.ID, "files").send_keys(attachment)
    shot("en-compose")
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: "Message sent." in text())
    step("dave sent a message with an attachment")

    # A draft: saved, reopened in the editor, sent; the Drafts folder is empty again.
    click_to((By.ID, "compose"), "/mail/compose")
    driver.find_element(By.ID, "to").send_keys("bob@web.test")
    driver.find_element(By.ID, "subject").send_keys("Draft note")
    driver.find_element(By.ID, "body").send_keys("written in two sittings")
    driver.find_element(By.CSS_SELECTOR, "button[value=draft]").click()
    wait.until(lambda d: "Draft saved." in text())
    click_to((By.LINK_TEXT, "Draft note"), "/mail/compose")
    assert driver.find_element(By.ID, "to").get_attribute("value") == "bob@web.test"
    assert "written in two sittings" in driver.find_element(By.ID, "body").get_attribute("value")
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: "Message sent." in text())
    go("/mail?folder=Drafts")
    assert "Draft note" not in text(), text()
    step("a draft was saved, reopened and sent; Drafts is empty")
    logout()

    # 3. Bob reads it, sees the attachment, replies.
    login("bob@web.test", "pw-bob")
    wait_listed("/mail", "Quarterly report")
    click_to((By.LINK_TEXT, "Quarterly report"), "/mail/read")
    wait.until(ec.presence_of_element_located((By.ID, "attachments")))
    assert os.path.basename(attachment) in driver.find_element(By.ID, "attachments").text
    assert "the report is attached." in driver.find_element(By.ID, "body-text").text
    step("bob read it; the attachment is listed")
    shot("en-read")
    click_to((By.ID, "reply"), "/mail/compose")
    assert driver.find_element(By.ID, "to").get_attribute("value") == "dave@web.test"
    assert driver.find_element(By.ID, "subject").get_attribute("value") == "Re: Quarterly report"
    driver.find_element(By.ID, "body").send_keys("Thanks, got it.")
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: "Message sent." in text())
    step("bob replied")

    # 4. The hostile message shows without running anything.
    go("/mail?folder=INBOX")
    click_to((By.LINK_TEXT, "You have won"), "/mail/read")
    frame = wait.until(ec.presence_of_element_located((By.ID, "body-html")))
    time.sleep(1)
    assert no_alert(), "an alert opened"
    assert driver.title != "pwned" and driver.execute_script("return window.pwned === undefined")
    sandbox = frame.get_attribute("sandbox")
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox, sandbox
    driver.switch_to.frame(frame)
    assert driver.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.CSS_SELECTOR, "iframe, object, embed, form, input, style, svg") == []
    for attr in ["onerror", "onload", "onclick", "onmouseover", "style"]:
        assert driver.find_elements(By.CSS_SELECTOR, "[%s]" % attr) == [], attr
    hrefs = [a.get_attribute("href") or "" for a in driver.find_elements(By.TAG_NAME, "a")]
    assert not any(h.lower().startswith("javascript") for h in hrefs), hrefs
    assert "Congratulations" in driver.find_element(By.TAG_NAME, "body").text
    for a in driver.find_elements(By.TAG_NAME, "a"):
        a.click()
    driver.switch_to.default_content()
    time.sleep(0.5)
    assert no_alert() and driver.title != "pwned"
    assert "Remote images are blocked." in text()
    step("the hostile message rendered inert (no script, handlers, javascript: links, styles, forms)")
    shot("en-xss")
    logout()

    # 5. Dave sees the reply.
    login("dave@web.test", "dave-secret-1")
    wait_listed("/mail", "Re: Quarterly report")
    step("dave got the reply")
    logout()

    # 6. The administrator releases the held message; the audit log has it.
    login("admin", "admin-secret-1")
    go("/admin/quarantine")
    assert "run.bat" in text()
    shot("en-quarantine")
    driver.find_element(By.CSS_SELECTOR, "button.release").click()
    wait.until(lambda d: "released" in text())
    step("admin released the held message")
    go("/admin/audit")
    assert "quarantine.release" in text() and "account.create" in text()
    shot("en-audit")
    step("the audit log shows the account creation and the release")
    go("/admin/archive?subject=Quarterly+report")
    rows = driver.find_elements(By.CSS_SELECTOR, "#archive tbody tr")
    assert len(rows) >= 2 and "Re: Quarterly report" in text(), text()
    shot("en-archive")
    step("the archive has both messages (%d rows)" % len(rows))
    go("/admin/logs?trace=dave%40web.test")
    trace = driver.find_element(By.ID, "log-lines").text
    assert "accepted" in trace and "delivered to INBOX" in trace and "dave@web.test" in trace, trace
    shot("en-trace")
    step("the message trace for dave@web.test shows acceptance and delivery")

    admin_pages = [("/admin/domains", "domains"), ("/admin/aliases", "aliases"), ("/admin/queue", "queue"), ("/admin/logs", "logs"),
                   ("/admin/rules", "rules"), ("/admin/settings", "settings"), ("/admin/appliance", "appliance")]
    for path, name in admin_pages:
        go(path)
        assert "Error" not in driver.find_element(By.TAG_NAME, "h1").text, path
        shot("en-" + name)
    step("every admin screen renders (en)")

    # 7. The same screens in Japanese.
    driver.find_element(By.CSS_SELECTOR, "a.lang").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja")
    assert "監査ログ" in text()
    shot("ja-audit")
    for path, name, want in [("/admin", "ja-dashboard", "ダッシュボード"), ("/admin/accounts", "ja-accounts", "アカウントを作成"), ("/admin/quarantine", "ja-quarantine", "隔離"),
                             ("/admin/archive?subject=Quarterly", "ja-archive", "エクスポート"), ("/admin/logs?trace=dave%40web.test", "ja-trace", "メッセージ追跡")]:
        go(path)
        wait.until(lambda d: want in text())
        shot(name)
    for path, name in admin_pages:
        go(path)
        shot("ja-" + name)
    step("admin screens in Japanese")
    logout()
    login("bob@web.test", "pw-bob")
    wait.until(lambda d: "フォルダ" in d.page_source or "作成" in text())
    shot("ja-mail")
    click_to((By.LINK_TEXT, "Quarterly report"), "/mail/read")
    wait.until(lambda d: "返信" in text())
    assert "年" in driver.find_element(By.CSS_SELECTOR, "dl.headers").text, "Japanese date"
    shot("ja-read")
    click_to((By.ID, "compose"), "/mail/compose")
    wait.until(lambda d: "送信" in text())
    shot("ja-compose")
    go("/mail/settings")
    wait.until(lambda d: "不在通知" in text())
    shot("ja-mail-settings")
    step("WebMail screens in Japanese, dates in Japanese form")

    # 8. A phone-sized screen: one column, nothing wider than the screen.
    driver.set_window_size(390, 844)
    go("/mail")
    wait.until(lambda d: "Quarterly report" in text())
    width = driver.execute_script("return document.documentElement.scrollWidth")
    inner = driver.execute_script("return window.innerWidth")
    assert width <= inner + 1, (width, inner)
    shot("phone-mail")
    step("the mail list fits a phone screen (%d <= %d px)" % (width, inner))
finally:
    driver.quit()
print("all steps passed")
